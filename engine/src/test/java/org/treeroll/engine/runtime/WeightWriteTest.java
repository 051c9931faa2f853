package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Writes into weight arrays, through the shared buffer (CPU) and through PyTorch (where PyTorch
 * owns the array, as on GPU; built here on the CPU with no buffer). Either way the array and the
 * transposed view the projections keep see the new values, and nothing outside the box changes.
 */
class WeightWriteTest {

  @ParameterizedTest(name = "shared buffer: {0}")
  @ValueSource(booleans = {true, false})
  void writesABoxInPlace(boolean shared) {
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray a = array(m, new float[12], new Shape(3, 4), shared);
      assertThat(a.visibleToJava()).isEqualTo(shared);
      NDArray view = a.array().transpose();
      WeightWrite.columns(a, 1, 3, new float[] {1, 2, 3, 4, 5, 6}).apply(m);
      assertThat(a.array().toFloatArray()).containsExactly(0, 1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0);
      new WeightWrite(a, 2, 3, 0, 4, new float[] {7, 8, 9, 10}).apply(m);
      assertThat(a.array().toFloatArray()).containsExactly(0, 1, 2, 0, 0, 3, 4, 0, 7, 8, 9, 10);
      assertThat(view.toFloatArray()).containsExactly(0, 0, 7, 1, 3, 8, 2, 4, 9, 0, 0, 10);
      WeightWrite.whole(a, new float[] {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}).apply(m);
      assertThat(view.toFloatArray()).containsExactly(1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3);
    }
  }

  @ParameterizedTest(name = "shared buffer: {0}")
  @ValueSource(booleans = {true, false})
  void writesASliceOfAVector(boolean shared) {
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray a = array(m, new float[] {1, 2, 3, 4, 5}, new Shape(5), shared);
      WeightWrite.columns(a, 2, 4, new float[] {-3, -4}).apply(m);
      assertThat(a.array().toFloatArray()).containsExactly(1, 2, -3, -4, 5);
    }
  }

  @ParameterizedTest(name = "shared buffer: {0}")
  @ValueSource(booleans = {true, false})
  void valuesThatDoNotFillTheBoxAreRefused(boolean shared) {
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray a = array(m, new float[12], new Shape(3, 4), shared);
      assertThatThrownBy(() -> WeightWrite.columns(a, 0, 2, new float[5]))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs 6 values, got 5");
    }
  }

  private static SharedArray array(NDManager m, float[] values, Shape shape, boolean shared) {
    return shared ? SharedArray.of(m, values, shape) : new SharedArray(m.create(values, shape), null);
  }
}
