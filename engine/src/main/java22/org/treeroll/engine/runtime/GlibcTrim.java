package org.treeroll.engine.runtime;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/** {@link NativeHeap.Trim} through glibc's {@code int malloc_trim(size_t pad)}. */
final class GlibcTrim implements NativeHeap.Trim {
  private final MethodHandle trim;

  /** @throws IllegalStateException where the C library has no {@code malloc_trim} (not glibc) */
  GlibcTrim() {
    Linker linker = Linker.nativeLinker();
    trim = linker.defaultLookup().find("malloc_trim")
        .map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
        .orElseThrow(() -> new IllegalStateException("the C library has no malloc_trim (not glibc)"));
  }

  @Override
  public boolean run() {
    try {
      return (int) trim.invokeExact(0L) != 0; // pad 0: keep nothing free at the top of the heap
    } catch (Throwable e) {
      throw new IllegalStateException("malloc_trim failed", e);
    }
  }
}
