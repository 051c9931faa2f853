package org.treeroll.engine.rl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The learning-rate decay follows the token budget when there is one, else the steps. */
class CosineDecayTest {
  private static RlConfig config(int steps, long budget) {
    return new RlConfig("t", RlPreset.rollout("independent", 4), "grpo", steps, budget, 4, 1, 10, 8, true, true,
        new PolicyTrainer.Settings(5e-5, 5, 0.2, 1.0, 1, 1, 0, 1e-3));
  }

  @Test
  void fallsAlongACosineFromOneToATenthOverTheBudget() {
    RlConfig c = config(1000, 1_000_000);
    assertThat(RlRun.cosineDecay(c, 1, 0)).isCloseTo(1.0, within(1e-12));
    // Halfway: 0.1 + 0.9 * 0.5 * (1 + cos(pi / 2)) = 0.55; a quarter: 0.1 + 0.45 * (1 + 1 / sqrt 2).
    assertThat(RlRun.cosineDecay(c, 7, 500_000)).isCloseTo(0.55, within(1e-12));
    assertThat(RlRun.cosineDecay(c, 3, 250_000)).isCloseTo(0.1 + 0.45 * (1 + Math.sqrt(0.5)), within(1e-12));
    assertThat(RlRun.cosineDecay(c, 20, 1_000_000)).isCloseTo(0.1, within(1e-12));
    assertThat(RlRun.cosineDecay(c, 21, 1_100_000)).isCloseTo(0.1, within(1e-12));
  }

  @Test
  void withoutABudgetItFollowsTheSteps() {
    RlConfig c = config(101, 0);
    assertThat(RlRun.cosineDecay(c, 1, 123_456)).isCloseTo(1.0, within(1e-12));
    assertThat(RlRun.cosineDecay(c, 51, 0)).isCloseTo(0.1 + 0.45 * (1 + Math.cos(Math.PI * 50 / 101)), within(1e-12));
  }
}
