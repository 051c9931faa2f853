package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A matrix over 2 GB, which PyTorch allocates and Java sees through several buffers, is one
 * segment to the kernels: they read what PyTorch reads, and their products equal PyTorch's.
 */
@org.junit.jupiter.api.condition.EnabledIf(value = "vectorApiLoaded", disabledReason = "the JVM runs without jdk.incubator.vector")
class LargeMatrixTest {

  static boolean vectorApiLoaded() {
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  /**
   * {@code [1000, 536871]} in-major, shaped like an LM head: 2^29 + 88 floats, so three buffers
   * (1 GiB, 1 GiB, 352 bytes), and rows of 2 MB that straddle both boundaries. ~2 GiB of native
   * memory for a few seconds, freed when the manager closes.
   */
  @Test
  void theKernelsReadAMatrixOver2GbAsPyTorchDoes() {
    int in = 1000;
    int out = 536_871;
    long size = (long) in * out;
    VectorKernels.startWarmUp(org.treeroll.engine.io.DType.F32); // uncompiled, the kernels would take many seconds over 2 GB
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray w = SharedArray.zeros(m, new Shape(in, out));
      assertThat(w.chunks()).hasSize(3);
      float[] block = new float[1 << 20];
      for (long at = 0; at < size; at += block.length) {
        int n = (int) Math.min(block.length, size - at);
        for (int i = 0; i < n; i++) {
          block[i] = SharedArrayTest.value(at + i);
        }
        w.put(at, block, 0, n);
      }

      MemorySegment segment = VectorForward.memory(w.chunks());
      assertThat(segment.byteSize()).isEqualTo(4 * size);
      assertThat(segment.address()).isEqualTo(MemorySegment.ofBuffer(w.chunks().get(0)).address());
      long[] probes = {0, (1L << 28) - 1, 1L << 28, (1L << 29) - 1, 1L << 29, size - 1};
      for (long i : probes) {
        assertThat(segment.getAtIndex(ValueLayout.JAVA_FLOAT, i)).as("float %d", i).isEqualTo(SharedArrayTest.value(i));
      }
      // Written through PyTorch past 2 GiB, read through the segment.
      w.array().set(new NDIndex("{}, {}", in - 1, out - 1), 7.5f);
      assertThat(segment.getAtIndex(ValueLayout.JAVA_FLOAT, size - 1)).isEqualTo(7.5f);

      VectorKernels.awaitWarmUp();
      SplittableRandom random = new SplittableRandom(5);
      for (int rows : new int[] {1, 9}) { // the one-row kernel, and register tiles with a tail row
        float[] x = new float[rows * in];
        for (int i = 0; i < x.length; i++) {
          x[i] = (float) random.nextDouble(-1, 1);
        }
        float[] y = new float[rows * out];
        java.util.Arrays.fill(y, Float.NaN); // every output must be written
        VectorKernels.matmul(segment, in, out, x, rows, y, false);
        float[] expected;
        try (NDManager tmp = m.newSubManager()) {
          expected = tmp.create(x, new Shape(rows, in)).matMul(w.array()).toFloatArray();
        }
        double max = 0;
        for (int i = 0; i < y.length; i++) {
          max = Math.max(max, Math.abs(y[i] - expected[i]));
        }
        assertThat(max).as("rows=%d", rows).isLessThan(1e-4 * Math.sqrt(in));
        assertThat(y[y.length - 1]).isNotEqualTo(0f); // the last column, which reads the last buffer
      }
    }
  }
}
