package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.withPrecision;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.UpdateTensor;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.WeightSwapPolicy;
import org.treeroll.tree.TreeRollException;

/** Weight updates through the embedded API: what the engine samples afterwards, and what it refuses. */
class EngineWeightUpdateTest {
  @TempDir static Path tmp;
  static Path dirA;
  static Path dirB;

  @BeforeAll
  static void write() {
    dirA = tmp.resolve("a");
    dirB = tmp.resolve("b");
    RandomModelWriter.write(dirA, ModelPreset.TINY_QWEN3, 3, DType.BF16, tmp);
    RandomModelWriter.write(dirB, ModelPreset.TINY_QWEN3, 4, DType.BF16, tmp);
  }

  static final SamplingParams PARAMS = SamplingParams.defaults().withSeed(7).withMaxTokens(12).withIgnoreEos(true);

  static List<Completion> generate(InferenceSession s, List<int[]> prompts) throws Exception {
    return s.generate(prompts, PARAMS).get(1, TimeUnit.MINUTES);
  }

  @Test
  void anUpdatedEngineSamplesWhatAFreshLoadOfTheNewWeightsSamples() throws Exception {
    List<int[]> prompts = List.of(new int[] {5, 6, 7, 8}, new int[] {9, 10});
    List<Completion> fresh;
    try (LoadedModel b = LoadedModel.open(dirB); InferenceSession s = new InferenceSession(b, 8L << 20)) {
      fresh = generate(s, prompts);
    }
    try (LoadedModel a = LoadedModel.open(dirA); InferenceSession s = new InferenceSession(a, 8L << 20)) {
      List<Completion> before = generate(s, prompts);
      long version = s.updateWeights(WeightUpdate.fromDirectory(dirB), WeightSwapPolicy.waitForRequests())
          .get(1, TimeUnit.MINUTES);
      assertThat(version).isEqualTo(1);
      List<Completion> after = generate(s, prompts);
      for (int i = 0; i < prompts.size(); i++) {
        assertThat(after.get(i).tokens()).isEqualTo(fresh.get(i).tokens());
        // Not bit for bit: the kernels' sums may run in another order (a prefix from the cache, a
        // different split over the cores), which moves log-probs by ~1e-6.
        assertThat(after.get(i).logProbs()).containsExactly(fresh.get(i).logProbs(), withPrecision(1e-5f));
      }
      // The update did change something: the same seed drew other tokens before it.
      assertThat(before.get(0).logProbs()).isNotEqualTo(after.get(0).logProbs());
      assertThat(s.stats().get(1, TimeUnit.MINUTES).weightVersion()).isEqualTo(1);
    }
  }

  @Test
  void malformedUpdatesAreRefusedAndTheOldWeightsKeepServing() throws Exception {
    List<int[]> prompts = List.of(new int[] {5, 6, 7, 8});
    try (LoadedModel a = LoadedModel.open(dirA); InferenceSession s = new InferenceSession(a, 8L << 20)) {
      List<Completion> before = generate(s, prompts);
      int hidden = a.config().hiddenSize();
      var unknown = WeightUpdate.fromTensors(List.of(
          UpdateTensor.f32("model.layers.99.mlp.up_proj.weight", new long[] {4, hidden}, new float[4 * hidden])));
      assertThatThrownBy(() -> s.updateWeights(unknown, WeightSwapPolicy.waitForRequests()).get(1, TimeUnit.MINUTES))
          .hasCauseInstanceOf(TreeRollException.class).cause().hasMessageContaining("model.layers.99.mlp.up_proj.weight");
      var misshapen = WeightUpdate.fromTensors(List.of(
          UpdateTensor.f32("model.norm.weight", new long[] {hidden + 1}, new float[hidden + 1])));
      assertThatThrownBy(() -> s.updateWeights(misshapen, WeightSwapPolicy.waitForRequests()).get(1, TimeUnit.MINUTES))
          .hasCauseInstanceOf(TreeRollException.class).cause().hasMessageContaining("model.norm.weight")
          .hasMessageContaining("shape");
      List<Completion> after = generate(s, prompts);
      assertThat(after.get(0).tokens()).isEqualTo(before.get(0).tokens());
      assertThat(after.get(0).logProbs()).containsExactly(before.get(0).logProbs(), withPrecision(1e-5f));
      assertThat(s.stats().get(1, TimeUnit.MINUTES).weightVersion()).isZero();
    }
  }
}
