package org.treeroll.engine.rl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;
import org.treeroll.engine.runtime.DjlRuntime;

/** The PPO-clip surrogate and its gradient on six tokens worked out by hand. */
class ClippedSurrogateTest {
  @Test
  void valueAndGradientMatchTheHandComputation() {
    // eps = 0.2, so ratios are clipped to [0.8, 1.2]; five counted tokens (T = 5), one masked.
    //   token  old    new              ratio  A    r*A    clip(r)*A  min     active  d loss / d new
    //   1      -1.0   -1.0             1.0    +2   2.0    2.0        2.0     both    -(1/5)*2*1.0   = -0.4
    //   2      -2.0   -2.0 + ln 1.5    1.5    +1   1.5    1.2        1.2     clipped  0
    //   3      -0.5   -0.5 + ln 0.5    0.5    -1   -0.5   -0.8       -0.8    clipped  0
    //   4      -1.5   -1.5 + ln 1.1    1.1    -2   -2.2   -2.2       -2.2    both    -(1/5)*(-2)*1.1 = 0.44
    //   5      -1.0   -1.0 + ln 1.5    1.5    -1   -1.5   -1.2       -1.5    r*A     -(1/5)*(-1)*1.5 = 0.3
    //   6 (masked: mask 0)                    +5                                      0
    // (d/d new of r*A is r*A, since dr/d new = r.) loss = -(2 + 1.2 - 0.8 - 2.2 - 1.5) / 5 = 0.26.
    float[] old = {-1.0f, -2.0f, -0.5f, -1.5f, -1.0f, -0.3f};
    float[] fresh = {-1.0f, (float) (-2.0 + Math.log(1.5)), (float) (-0.5 + Math.log(0.5)),
        (float) (-1.5 + Math.log(1.1)), (float) (-1.0 + Math.log(1.5)), -0.1f};
    float[] adv = {2, 1, -1, -2, -1, 5};
    float[] mask = {1, 1, 1, 1, 1, 0};
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      NDArray newLp = m.create(fresh);
      newLp.setRequiresGradient(true);
      float loss;
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray l = ClippedSurrogate.loss(newLp, m.create(old), m.create(adv), m.create(mask), 0.2, 5);
        gc.backward(l);
        loss = l.getFloat();
      }
      assertThat(loss).isCloseTo(0.26f, within(1e-5f));
      float[] grad = newLp.getGradient().toFloatArray();
      assertThat(grad[0]).isCloseTo(-0.4f, within(1e-5f));
      assertThat(grad[1]).isCloseTo(0f, within(1e-6f));
      assertThat(grad[2]).isCloseTo(0f, within(1e-6f));
      assertThat(grad[3]).isCloseTo(0.44f, within(1e-5f));
      assertThat(grad[4]).isCloseTo(0.3f, within(1e-5f));
      assertThat(grad[5]).isCloseTo(0f, within(1e-6f));
    }
  }

  @Test
  void klToTheReferenceMatchesTheHandComputation() {
    // k3 = exp(d) - d - 1 with d = ref - new; d k3 / d new = 1 - exp(d). Three counted tokens
    // (T = 3), one masked:
    //   token  ref    new          d      k3                        d k3 / d new (times 1/T)
    //   1      -1.0   -1.0         0      0                         0
    //   2      -1.0   -1.0 - ln 2  ln 2   2 - ln 2 - 1 = 0.306853   (1 - 2) / 3   = -0.333333
    //   3      -2.0   -2.0 + ln 2  -ln 2  0.5 + ln 2 - 1 = 0.193147 (1 - 0.5) / 3 = 0.166667
    //   4 (masked)                                                  0
    // KL = (0.306853 + 0.193147) / 3 = 1/6: 0 only where the policy equals the reference, and the
    // gradient pulls each log-prob toward the reference's.
    float[] ref = {-1.0f, -1.0f, -2.0f, -0.5f};
    float[] fresh = {-1.0f, (float) (-1.0 - Math.log(2)), (float) (-2.0 + Math.log(2)), -3f};
    float[] mask = {1, 1, 1, 0};
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      NDArray newLp = m.create(fresh);
      newLp.setRequiresGradient(true);
      float kl;
      try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray k = ClippedSurrogate.klToReference(newLp, m.create(ref), m.create(mask), 3);
        gc.backward(k);
        kl = k.getFloat();
      }
      assertThat(kl).isCloseTo(1f / 6, within(1e-6f));
      float[] grad = newLp.getGradient().toFloatArray();
      assertThat(grad[0]).isCloseTo(0f, within(1e-6f));
      assertThat(grad[1]).isCloseTo(-1f / 3, within(1e-6f));
      assertThat(grad[2]).isCloseTo(1f / 6, within(1e-6f));
      assertThat(grad[3]).isCloseTo(0f, within(1e-6f));
    }
  }
}
