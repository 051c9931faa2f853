package org.treeroll.engine.runtime;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The C heap (glibc's malloc) that PyTorch, the tokenizer and the JDK's direct buffers share. The
 * launcher tells glibc to keep freed memory (MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_) so PyTorch's
 * big temporaries do not fault their pages in again every step; that also keeps resident what a
 * load freed: the tokenizer's JSON parse, read buffers. {@link #trim} hands those free pages back,
 * once per load; the steady state keeps its pool. It calls glibc's {@code malloc_trim} through
 * the foreign function API ({@code GlibcTrim}), final from JDK 22 on, so the build compiles it only
 * there, as it does the Vector API kernels.
 */
public final class NativeHeap {
  private static final Logger LOG = LoggerFactory.getLogger(NativeHeap.class);
  static final String IMPLEMENTATION = "org.treeroll.engine.runtime.GlibcTrim";
  private static final Trim TRIM = find();

  private NativeHeap() {}

  /** Returns the C heap's free pages to the OS. */
  interface Trim {
    /** Whether any memory went back (glibc's answer). */
    boolean run();
  }

  /** Whether {@link #trim} can return memory in this JVM. */
  public static boolean available() {
    return TRIM != null;
  }

  /**
   * Hands the C heap's free pages back to the OS; does nothing, beyond one log line at the first
   * call, where the JVM cannot call glibc. Whether any memory went back.
   */
  public static boolean trim() {
    return TRIM != null && TRIM.run();
  }

  private static Trim find() {
    int jdk = Runtime.version().feature();
    if (jdk < 22) {
      LOG.info("native heap: memory freed while loading stays resident (JDK {} cannot call malloc_trim; JDK 22+ can)", jdk);
      return null;
    }
    try {
      return (Trim) Class.forName(IMPLEMENTATION).getDeclaredConstructor().newInstance();
    } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      LOG.info("native heap: memory freed while loading stays resident (no malloc_trim: {})", cause.toString());
      return null;
    }
  }
}
