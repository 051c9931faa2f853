package org.treeroll.engine.runtime;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Zeroed direct buffers for weights and KV pages, in 2 MB transparent huge pages where the kernel
 * offers them. A batch-1 decode step streams every weight once; in 4 KB pages that is a TLB miss
 * every 4 KB of each stream, and the one-row kernel reads eight streams at once (throughput in
 * docs/benchmarks.md). Buffers of at least {@link #HUGE_PAGE} bytes are their own anonymous
 * mapping, 2 MB aligned and marked {@code MADV_HUGEPAGE} before any page is touched, through the
 * foreign function API (final from JDK 22 on, so {@code MappedHugePages} is compiled only there,
 * as the Vector API kernels are). Such a mapping is unmapped when its buffer is collected, as a
 * direct buffer's memory is freed; it is not counted against {@code -XX:MaxDirectMemorySize}.
 * Smaller buffers, or where huge pages are off (logged once, with the reason), come from
 * {@link ByteBuffer#allocateDirect}.
 */
public final class LargeBuffers {
  private static final Logger LOG = LoggerFactory.getLogger(LargeBuffers.class);
  static final String IMPLEMENTATION = "org.treeroll.engine.runtime.MappedHugePages";
  static final Path THP_MODE = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
  /** The huge page size; smaller buffers gain nothing from a mapping of their own. */
  static final int HUGE_PAGE = 2 << 20;
  private static final Mapper MAPPER = find();

  private LargeBuffers() {}

  /** Maps zeroed buffers of whole huge pages. */
  interface Mapper {
    /** A zeroed buffer of {@code bytes}, unmapped once unreachable. */
    ByteBuffer map(int bytes);

    /** Bytes mapped and not yet unmapped. */
    long mappedBytes();
  }

  /** Whether buffers of at least {@link #HUGE_PAGE} bytes are mapped in huge pages here. */
  public static boolean hugePages() {
    return MAPPER != null;
  }

  /** Bytes of the buffers mapped here and not yet unmapped (none where huge pages are off). */
  public static long mappedBytes() {
    return MAPPER == null ? 0 : MAPPER.mappedBytes();
  }

  /** A zeroed direct buffer of {@code bytes} in native byte order. */
  public static ByteBuffer allocate(int bytes) {
    ByteBuffer b = MAPPER != null && bytes >= HUGE_PAGE ? MAPPER.map(bytes) : ByteBuffer.allocateDirect(bytes);
    return b.order(ByteOrder.nativeOrder());
  }

  /**
   * The kernel's transparent huge page mode, the bracketed word of {@code enabled} (always,
   * madvise or never), or null where there is no such file.
   */
  static String thpMode(Path enabled) {
    try {
      String s = Files.readString(enabled);
      int open = s.indexOf('[');
      int close = s.indexOf(']', open + 1);
      return open < 0 || close < 0 ? null : s.substring(open + 1, close);
    } catch (java.io.IOException e) {
      return null;
    }
  }

  private static Mapper find() {
    int jdk = Runtime.version().feature();
    String off = "weights and KV pages: 4 KB pages, ";
    if (jdk < 22) {
      LOG.info(off + "JDK {} cannot map memory itself (JDK 22+ can)", jdk);
      return null;
    }
    String mode = thpMode(THP_MODE);
    if (mode == null || mode.equals("never")) {
      LOG.info(off + "transparent huge pages are {}", mode == null ? "not offered (no " + THP_MODE + ")" : "off (never)");
      return null;
    }
    try {
      Mapper m = (Mapper) Class.forName(IMPLEMENTATION).getDeclaredConstructor().newInstance();
      LOG.info("weights and KV pages: 2 MB transparent huge pages from 2 MB up (THP mode {})", mode);
      return m;
    } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      LOG.info(off + "no mmap/madvise: {}", cause.toString());
      return null;
    }
  }
}
