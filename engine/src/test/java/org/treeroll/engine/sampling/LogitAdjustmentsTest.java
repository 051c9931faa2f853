package org.treeroll.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import it.unimi.dsi.fastutil.ints.IntList;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

/**
 * Penalties, logit bias and min-p on a vocabulary of four, each against a distribution worked
 * out by hand from the logits {2, -1, 0.5, 1}.
 */
class LogitAdjustmentsTest {
  private static final float[] LOGITS = {2f, -1f, 0.5f, 1f};

  @Test
  void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfTokensSeenInPromptOrOutput() {
    // Token 0 (in the prompt, 2 > 0) -> 2 / 2 = 1; token 1 (in the output, -1 < 0) -> -2; 2 and 3 unseen.
    float[] p = adjusted(new LogitAdjustments(2, 0, 0, Map.of()), 1.0, new int[] {0}, IntList.of(1));
    assertDistribution(p, 1, -2, 0.5, 1);
  }

  @Test
  void presenceAndFrequencyPenaltiesCountTheOutputOnly() {
    // Output 3, 3, 2: token 3 loses 0.5 + 2 * 0.25 = 1.0, token 2 loses 0.5 + 0.25 = 0.75.
    // Token 0 is only in the prompt: untouched.
    float[] p = adjusted(new LogitAdjustments(1, 0.5, 0.25, Map.of()), 1.0, new int[] {0}, IntList.of(3, 3, 2));
    assertDistribution(p, 2, -1, -0.25, 0);
  }

  @Test
  void logitBiasIsAddedAndTheTemperatureDividesAfterwards() {
    // Bias +1.5 on token 1, -100 on token 0; then T = 2 halves everything.
    float[] p = adjusted(new LogitAdjustments(1, 0, 0, Map.of(1, 1.5, 0, -100.0)), 2.0, new int[0], IntList.of());
    assertDistribution(p, -98 / 2.0, 0.5 / 2, 0.5 / 2, 1 / 2.0);
  }

  @Test
  void theRecordedLogProbIsOfTheRawDistributionWhateverWasDrawn() {
    // A bias that makes token 1 certain: it is drawn, with its raw log-prob.
    SamplingParams sp = SamplingParams.defaults().withLogprobs(2)
        .withAdjustments(new LogitAdjustments(1, 0, 0, Map.of(1, 100.0)));
    SampledToken t = TokenSampler.sample(distributions(1.0), 0, sp, new SplittableRandom(1), new int[0],
        IntList.of());
    double z = Math.exp(2) + Math.exp(-1) + Math.exp(0.5) + Math.exp(1);
    assertThat(t.id()).isEqualTo(1);
    assertThat((double) t.logProb()).isCloseTo(-1 - Math.log(z), within(1e-5));
    assertThat(t.topIds()).containsExactly(0, 3);
    // Greedy too draws from the adjusted logits.
    SampledToken g = TokenSampler.sample(distributions(1.0), 0, sp.withTemperature(0), new SplittableRandom(1),
        new int[0], IntList.of());
    assertThat(g.id()).isEqualTo(1);
  }

  @Test
  void minPKeepsTokensAtLeastThatFractionOfTheMostLikely() {
    // Raw probabilities are proportional to e^2, e^-1, e^0.5, e^1: relative to the top, 1, 0.050, 0.223, 0.368.
    Set<Integer> drawn = drawn(SamplingParams.defaults().withMinP(0.2));
    assertThat(drawn).containsExactlyInAnyOrder(0, 2, 3);
    assertThat(drawn(SamplingParams.defaults().withMinP(0.3))).containsExactlyInAnyOrder(0, 3);
    assertThat(drawn(SamplingParams.defaults().withMinP(0.3).withTopK(3))).containsExactlyInAnyOrder(0, 3);
    assertThat(drawn(SamplingParams.defaults().withMinP(0.5))).containsExactly(0);
  }

  @Test
  void outOfRangeValuesAreRefusedByName() {
    assertThatThrownBy(() -> new LogitAdjustments(0, 0, 0, Map.of())).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("repetition_penalty");
    assertThatThrownBy(() -> new LogitAdjustments(1, 2.5, 0, Map.of())).hasMessageContaining("presence_penalty");
    assertThatThrownBy(() -> new LogitAdjustments(1, 0, -3, Map.of())).hasMessageContaining("frequency_penalty");
    assertThatThrownBy(() -> new LogitAdjustments(1, 0, 0, Map.of(3, 101.0))).hasMessageContaining("logit_bias");
    assertThatThrownBy(() -> SamplingParams.defaults().withMinP(1.5)).hasMessageContaining("min_p");
  }

  private static Set<Integer> drawn(SamplingParams p) {
    NextTokenDistributions d = distributions(1.0);
    SplittableRandom rng = new SplittableRandom(5);
    Set<Integer> out = new HashSet<>();
    for (int i = 0; i < 2000; i++) {
      out.add(TokenSampler.sample(d, 0, p, rng).id());
    }
    return out;
  }

  private static float[] adjusted(LogitAdjustments a, double temperature, int[] prompt, IntList output) {
    SamplingParams p = SamplingParams.defaults().withTemperature(temperature).withAdjustments(a);
    return TokenSampler.adjusted(distributions(temperature), 0, p, prompt, new IntArrayList(output));
  }

  /** softmax of the given logits, in double. */
  private static void assertDistribution(float[] p, double... logits) {
    double z = 0;
    for (double l : logits) {
      z += Math.exp(l);
    }
    for (int i = 0; i < logits.length; i++) {
      assertThat((double) p[i]).as("token %d", i).isCloseTo(Math.exp(logits[i]) / z, within(1e-6));
    }
  }

  /** Through the engine with the raw logits kept, as the scheduler asks for them. */
  private static NextTokenDistributions distributions(double temperature) {
    try (NDManager m = NDManager.newBaseManager()) {
      return NextTokenDistributions.of(m.create(LOGITS, new Shape(1, LOGITS.length)),
          new float[] {(float) temperature}, true);
    }
  }
}
