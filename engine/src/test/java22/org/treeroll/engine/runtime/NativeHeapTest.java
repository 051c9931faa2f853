package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

/** On Linux (glibc) from JDK 22 on, {@link NativeHeap#trim} reaches malloc_trim and returns freed C memory. */
@EnabledOnOs(OS.LINUX)
class NativeHeapTest {

  @Test
  void trimReturnsMemoryFreedBelowALiveAllocation() {
    assertThat(NativeHeap.available()).isTrue();
    try (Arena live = Arena.ofConfined()) {
      try (Arena garbage = Arena.ofConfined()) {
        for (int i = 0; i < 1000; i++) {
          garbage.allocate(64 << 10); // under glibc's mmap threshold: from the malloc heap
        }
        live.allocate(16); // above the garbage, so free() cannot give it back at the heap's top
      }
      // 64 MB of free chunks inside the heap: only malloc_trim releases their pages.
      assertThat(NativeHeap.trim()).isTrue();
    }
  }
}
