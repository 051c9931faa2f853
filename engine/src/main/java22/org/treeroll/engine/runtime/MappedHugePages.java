package org.treeroll.engine.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link LargeBuffers.Mapper} through Linux's {@code mmap}, {@code madvise} and {@code munmap}: an
 * anonymous private mapping (zero pages, faulted in as written), trimmed to start on a 2 MB
 * boundary so that every whole huge page in it can be one, and advised {@code MADV_HUGEPAGE}
 * before its first touch, which THP's "madvise" mode asks for. Each mapping belongs to an
 * automatic arena whose cleanup unmaps it once the buffer and every view of it are unreachable.
 */
final class MappedHugePages implements LargeBuffers.Mapper {
  private static final Logger LOG = LoggerFactory.getLogger(MappedHugePages.class);
  private static final int PROT_READ_WRITE = 0x1 | 0x2;
  private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
  private static final int MADV_HUGEPAGE = 14;
  private static final long PAGE = 4096;
  private static final long HUGE = LargeBuffers.HUGE_PAGE;

  private final MethodHandle mmap;
  private final MethodHandle munmap;
  private final MethodHandle madvise;
  private final AtomicLong mapped = new AtomicLong();
  private final AtomicBoolean refusalLogged = new AtomicBoolean();

  /** @throws IllegalStateException where the C library lacks one of the three calls */
  MappedHugePages() {
    Linker linker = Linker.nativeLinker();
    SymbolLookup libc = linker.defaultLookup();
    mmap = handle(linker, libc, "mmap", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
        ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    munmap = handle(linker, libc, "munmap",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    madvise = handle(linker, libc, "madvise",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
  }

  private static MethodHandle handle(Linker linker, SymbolLookup libc, String name, FunctionDescriptor f) {
    return libc.find(name).map(s -> linker.downcallHandle(s, f))
        .orElseThrow(() -> new IllegalStateException("the C library has no " + name));
  }

  @Override
  @SuppressWarnings("restricted") // reinterpret: the size and lifetime are the mapping's own
  public ByteBuffer map(int bytes) {
    long len = (bytes + PAGE - 1) & -PAGE;
    long span = len + HUGE;
    long raw;
    try {
      raw = ((MemorySegment) mmap.invokeExact(MemorySegment.NULL, span, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0L))
          .address();
    } catch (Throwable e) {
      throw new IllegalStateException("mmap failed", e);
    }
    if (raw == -1L) { // MAP_FAILED
      throw new OutOfMemoryError("mmap of " + span + " bytes failed: the machine has no memory left to map");
    }
    long start = (raw + HUGE - 1) & -HUGE;
    unmap(raw, start - raw);
    unmap(start + len, raw + span - (start + len));
    int advised;
    try {
      advised = (int) madvise.invokeExact(start, len, MADV_HUGEPAGE);
    } catch (Throwable e) {
      unmap(start, len);
      throw new IllegalStateException("madvise failed", e);
    }
    if (advised != 0 && !refusalLogged.getAndSet(true)) {
      // The kernel refused the advice (no THP support): the mapping stays in 4 KB pages.
      LOG.info("weights and KV pages: 4 KB pages, the kernel refused MADV_HUGEPAGE");
    }
    mapped.addAndGet(len);
    MemorySegment mapping = MemorySegment.ofAddress(start).reinterpret(len, Arena.ofAuto(), s -> {
      unmap(start, len);
      mapped.addAndGet(-len);
    });
    return mapping.asSlice(0, bytes).asByteBuffer();
  }

  @Override
  public long mappedBytes() {
    return mapped.get();
  }

  private void unmap(long at, long len) {
    if (len == 0) {
      return;
    }
    try {
      if ((int) munmap.invokeExact(at, len) != 0) {
        throw new IllegalStateException("munmap of " + len + " bytes at 0x" + Long.toHexString(at) + " failed");
      }
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException("munmap failed", e);
    }
  }
}
