package org.treeroll.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

class TokenSamplerTest {
  // Probabilities 0.1, 0.2, 0.3, 0.4 at temperature 1 (logits are log-weights, any offset).
  private static final float[] LOGITS = {
    (float) Math.log(1) + 5, (float) Math.log(2) + 5, (float) Math.log(3) + 5, (float) Math.log(4) + 5
  };

  @Test
  void logProbAndEntropyAreThoseOfTheFullDistribution() {
    SampledToken t = sample(SamplingParams.defaults(), new SplittableRandom(1));
    double[] p = {0.1, 0.2, 0.3, 0.4};
    assertThat(t.logProb()).isCloseTo((float) Math.log(p[t.id()]), within(1e-6f));
    // H = -(0.1 ln 0.1 + 0.2 ln 0.2 + 0.3 ln 0.3 + 0.4 ln 0.4) = 1.279854 nats.
    assertThat(t.entropy()).isCloseTo(1.279854f, within(1e-5f));
  }

  @Test
  void temperatureScalesTheDistributionTheLogProbIsTakenFrom() {
    // At T = 2 the weights become sqrt(1), sqrt(2), sqrt(3), sqrt(4): sum 6.1463.
    SamplingParams p = SamplingParams.defaults().withTemperature(2.0).withLogprobs(4);
    SampledToken t = sample(p, new SplittableRandom(3));
    double z = 1 + Math.sqrt(2) + Math.sqrt(3) + 2;
    assertThat(t.topIds()).containsExactly(3, 2, 1, 0);
    assertThat(t.topLogProbs()[0]).isCloseTo((float) Math.log(2 / z), within(1e-6f));
    assertThat(t.topLogProbs()[3]).isCloseTo((float) Math.log(1 / z), within(1e-6f));
  }

  @Test
  void greedyTakesTheArgmaxAndReportsTemperatureOneLogProb() {
    SampledToken t = sample(SamplingParams.defaults().withTemperature(0), new SplittableRandom(9));
    assertThat(t.id()).isEqualTo(3);
    assertThat(t.logProb()).isCloseTo((float) Math.log(0.4), within(1e-6f));
  }

  @Test
  void frequenciesFollowTheProbabilities() {
    int[] counts = new int[4];
    SplittableRandom rng = new SplittableRandom(42);
    int n = 40_000;
    for (int i = 0; i < n; i++) {
      counts[sample(SamplingParams.defaults(), rng).id()]++;
    }
    // Binomial std at p = 0.4 is sqrt(0.24 / 40000) = 0.0024; allow ~4 std.
    for (int i = 0; i < 4; i++) {
      assertThat(counts[i] / (double) n).isCloseTo((i + 1) / 10.0, within(0.01));
    }
  }

  @Test
  void topKKeepsOnlyTheKMostLikely() {
    int[] counts = new int[4];
    SplittableRandom rng = new SplittableRandom(5);
    for (int i = 0; i < 5_000; i++) {
      counts[sample(SamplingParams.defaults().withTopK(2), rng).id()]++;
    }
    assertThat(counts[0]).isZero();
    assertThat(counts[1]).isZero();
    // Renormalised over {0.3, 0.4}: token 3 with 4/7.
    assertThat(counts[3] / 5000.0).isCloseTo(4 / 7.0, within(0.03));
  }

  @Test
  void topPKeepsTheSmallestNucleusReachingP() {
    // Sorted 0.4, 0.3, 0.2, 0.1: 0.4 < 0.65, 0.7 >= 0.65, so the nucleus is {3, 2}.
    int[] counts = new int[4];
    SplittableRandom rng = new SplittableRandom(6);
    for (int i = 0; i < 5_000; i++) {
      counts[sample(SamplingParams.defaults().withTopP(0.65), rng).id()]++;
    }
    assertThat(counts[0]).isZero();
    assertThat(counts[1]).isZero();
    assertThat(counts[2]).isPositive();
    assertThat(counts[3]).isPositive();
  }

  @Test
  void topPOnALargeVocabularyNeverDrawsFromTheTail() {
    // One dominant token with 0.9 of the mass: top-p 0.85 must always pick it.
    float[] logits = new float[50_000];
    logits[123] = (float) Math.log(0.9 * (logits.length - 1) / 0.1);
    NextTokenDistributions d = distributions(logits, 1.0);
    SplittableRandom rng = new SplittableRandom(8);
    SamplingParams p = SamplingParams.defaults().withTopP(0.85);
    for (int i = 0; i < 200; i++) {
      assertThat(TokenSampler.sample(d, 0, p, rng).id()).isEqualTo(123);
    }
  }

  @Test
  void sameSeedSameTokensAndSequencesGetDistinctStreams() {
    int[] a = draw(TokenSampler.rngFor(7, 0));
    int[] b = draw(TokenSampler.rngFor(7, 0));
    int[] c = draw(TokenSampler.rngFor(7, 1));
    assertThat(a).isEqualTo(b);
    assertThat(a).isNotEqualTo(c);
  }

  @Test
  void topIndicesBreakTiesByLowerId() {
    float[] logits = {0.1f, 0.3f, 0.3f, 0.2f, 0.3f};
    assertThat(TokenSampler.topIndices(logits, 0, 5, 4)).containsExactly(1, 2, 4, 3);
  }

  @Test
  void badParametersNameTheField() {
    assertThatThrownBy(() -> SamplingParams.defaults().withTopP(0))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("top_p");
    assertThatThrownBy(() -> SamplingParams.defaults().withTemperature(-1))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("temperature");
    assertThatThrownBy(() -> SamplingParams.defaults().withMaxTokens(0))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("max_tokens");
    assertThatThrownBy(() -> SamplingParams.defaults().withTopK(-2))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("top_k");
  }

  private static int[] draw(SplittableRandom rng) {
    int[] out = new int[32];
    for (int i = 0; i < out.length; i++) {
      out[i] = sample(SamplingParams.defaults(), rng).id();
    }
    return out;
  }

  private static final java.util.Map<Double, NextTokenDistributions> BY_TEMPERATURE =
      new java.util.HashMap<>();

  private static SampledToken sample(SamplingParams p, SplittableRandom rng) {
    NextTokenDistributions d = BY_TEMPERATURE.computeIfAbsent(p.logprobTemperature(),
        t -> distributions(LOGITS, t));
    return TokenSampler.sample(d, 0, p, rng);
  }

  /** Through the engine, as the generator computes them. */
  private static NextTokenDistributions distributions(float[] logits, double temperature) {
    try (NDManager m = NDManager.newBaseManager()) {
      return NextTokenDistributions.of(m.create(logits, new Shape(1, logits.length)), temperature);
    }
  }
}
