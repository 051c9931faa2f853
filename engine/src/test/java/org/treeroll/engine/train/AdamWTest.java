package org.treeroll.engine.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.treeroll.engine.runtime.DjlRuntime;

class AdamWTest {
  @Test
  void firstStepMovesEachWeightByTheLearningRateAgainstItsGradientSign() {
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      NDArray w = m.create(new float[] {1f, -2f, 3f});
      w.setRequiresGradient(true);
      Map<String, NDArray> params = Map.of("w", w);
      try (AdamW opt = new AdamW(params, m, 0.9, 0.95, 1e-8, 0, 0)) {
        backward(w, m.create(new float[] {2f, -1f, 0.5f}));
        opt.step(params, 0.1);
        // Bias-corrected first Adam step: m/sqrt(v) = sign(g).
        assertThat(w.toFloatArray()).containsExactly(new float[] {0.9f, -1.9f, 2.9f},
            org.assertj.core.data.Offset.offset(1e-5f));
        assertThat(w.getGradient().toFloatArray()).containsOnly(0f);
      }
    }
  }

  @Test
  void aNonFiniteGradientIsSkipped() {
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      NDArray w = m.create(new float[] {1f, 2f});
      w.setRequiresGradient(true);
      Map<String, NDArray> params = Map.of("w", w);
      try (AdamW opt = new AdamW(params, m, 0.9, 0.95, 1e-8, 0.01, 1.0)) {
        backward(w, m.create(new float[] {Float.NaN, 1f}));
        assertThat(opt.step(params, 0.1)).isNaN();
        assertThat(opt.skippedSteps()).isEqualTo(1);
        assertThat(w.toFloatArray()).containsExactly(1f, 2f);
        assertThat(w.getGradient().toFloatArray()).containsOnly(0f);
        backward(w, m.create(new float[] {1f, 1f}));
        assertThat(opt.step(params, 0.1)).isFinite();
        assertThat(w.toFloatArray()[0]).isLessThan(1f);
      }
    }
  }

  /** Leaves {@code g} as w's gradient: backward of sum(w * g). */
  private static void backward(NDArray w, NDArray g) {
    try (NDScope scope = new NDScope();
        GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
      gc.backward(w.mul(g).sum());
    }
  }
}
