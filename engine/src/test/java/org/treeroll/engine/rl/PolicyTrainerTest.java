package org.treeroll.engine.rl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.RewardedRollouts;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.WeightSwapPolicy;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.reward.RewardFunctions;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.TreeRollException;

/** One RL step on the bundled model: the ratio starts at 1, and the engine serves the new policy. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PolicyTrainerTest {
  private static final double TEMPERATURE = 0.9; // not 1, so a log-prob taken at the wrong temperature shows
  private static LoadedModel model;

  @BeforeAll
  static void load() {
    model = LoadedModel.open(Path.of(System.getProperty("treeroll.models.dir", "../models")).resolve("treeroll-arith"));
  }

  @AfterAll
  static void close() {
    model.close();
  }

  private static RewardedRollouts.Result sample(InferenceSession session, long seed) {
    List<TreeRewards.Problem> problems = new ArrayList<>();
    for (ArithmeticTask.Problem p : ArithmeticTask.defaultMix().problems(ArithmeticTask.Split.TRAIN, 3, 8)) {
      problems.add(new TreeRewards.Problem(p.prompt(), Long.toString(p.answer())));
    }
    TreeRolloutConfig shape = RlPreset.rollout("treepo", 4);
    SamplingParams params = SamplingParams.defaults().withTemperature(TEMPERATURE).withSeed(seed)
        .withMaxTokens(shape.maxTokens());
    return new RewardedRollouts(session, RewardFunctions.create("math"), AdvantageEstimators.create("treepo"))
        .run(problems, shape, params, n -> {});
  }

  @Test
  void oneStepStartsAtRatioOneAndTheEngineThenSamplesAndScoresTheNewWeights(@TempDir Path saved) {
    try (InferenceSession session = new InferenceSession(model, 64L << 20);
        // lr 1e-4: a first-order step here; at 1e-3 Adam's first step (about lr on every weight)
        // overshoots and lowers the log-probs of positive and negative answers alike.
        PolicyTrainer trainer = new PolicyTrainer(model.config(), PolicyTrainer.checkpoint(model),
            new PolicyTrainer.Settings(1e-4, 0, 0.2, TEMPERATURE, 2, 1, 0, 1e-3))) {
      RewardedRollouts.Result r = sample(session, 11);
      assertThat(r.trees()).allSatisfy(t -> assertThat(t.weightVersion()).isZero());
      List<SampledPath> paths = RlRun.paths(r, false);
      // Advantages that are all zero would move nothing; the test needs a gradient.
      assertThat(paths.stream().anyMatch(PolicyTrainerTest::nonZero)).as("some answer has an advantage, mean reward %s",
          r.rewards().meanReward()).isTrue();

      int[] fixed = probe(r.trees().getFirst());
      float[] before = session.score(List.of(fixed), TEMPERATURE).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().getFirst().logProbs();

      PolicyTrainer.Update u = trainer.train(paths);
      assertThat(u.firstRatioDeviation()).isLessThan(1e-4);
      assertThat(u.mismatch().max()).isLessThan(1e-4);
      assertThat(u.mismatch().tokens()).isEqualTo(paths.stream().mapToInt(SampledPath::counted).sum());
      assertThat(u.tokens()).isEqualTo((int) u.mismatch().tokens());

      // The step moved log-probs the way the advantages ask: sum_t A_t * (new_t - old_t) > 0.
      List<float[]> moved = trainer.score(paths.stream().map(PolicyTrainerTest::sequence).toList(), TEMPERATURE);
      double improvement = 0;
      for (int i = 0; i < paths.size(); i++) {
        SampledPath p = paths.get(i);
        float[] lp = moved.get(i);
        for (int j = 0; j < p.response().length; j++) {
          improvement += p.mask()[j] * p.advantages()[j] * (lp[p.prompt().length - 1 + j] - p.oldLogProbs()[j]);
        }
      }
      assertThat(improvement).isGreaterThan(0);

      long version = session.updateWeights(WeightUpdate.fromTensors(trainer.weights()),
          WeightSwapPolicy.waitForRequests()).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
      assertThat(version).isEqualTo(1);
      assertThat(sample(session, 12).trees()).allSatisfy(t -> assertThat(t.weightVersion()).isEqualTo(1));

      float[] after = session.score(List.of(fixed), TEMPERATURE).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().getFirst().logProbs();
      float[] trainerAfter = trainer.score(List.of(fixed), TEMPERATURE).getFirst();
      double changed = 0;
      double diff = 0;
      for (int i = 0; i < after.length; i++) {
        changed = Math.max(changed, Math.abs(after[i] - before[i]));
        diff = Math.max(diff, Math.abs(after[i] - trainerAfter[i]));
      }
      assertThat(changed).isGreaterThan(1e-3);
      assertThat(diff).isLessThan(1e-4);

      // The saved policy is a model directory that loads with the trained weights.
      trainer.save(model.dir(), saved);
      try (LoadedModel reloaded = LoadedModel.open(saved);
          InferenceSession fresh = new InferenceSession(reloaded, 16L << 20)) {
        float[] again = fresh.score(List.of(fixed), TEMPERATURE).orTimeout(2, TimeUnit.MINUTES).join().getFirst().logProbs();
        for (int i = 0; i < again.length; i++) {
          assertThat((double) Math.abs(again[i] - trainerAfter[i])).isLessThan(1e-4);
        }
      }
      assertThatThrownBy(() -> trainer.save(model.dir(), saved)).isInstanceOf(TreeRollException.class)
          .hasMessageContaining("already holds weights");
    }
  }

  @Test
  void uniformGroupsAreLeftOutOnlyWhenAsked() {
    try (InferenceSession session = new InferenceSession(model, 64L << 20)) {
      RewardedRollouts.Result r = sample(session, 13);
      List<SampledPath> all = RlRun.paths(r, false);
      List<SampledPath> mixed = RlRun.paths(r, true);
      int expected = 0;
      for (RolloutTree t : r.trees()) {
        double[] rewards = t.leaves().stream().mapToDouble(l -> l.reward()).toArray();
        boolean uniform = java.util.Arrays.stream(rewards).allMatch(v -> v == rewards[0]);
        expected += uniform ? 0 : rewards.length;
      }
      assertThat(all).hasSize(r.leaves());
      assertThat(mixed).hasSize(expected);
      // Both kinds occur in this sample, so the filter is exercised both ways.
      assertThat(expected).isStrictlyBetween(0, r.leaves());
      // The left-out answers no longer count in the token mean.
      assertThat(mixed.stream().mapToInt(SampledPath::counted).sum())
          .isLessThan(all.stream().mapToInt(SampledPath::counted).sum());
    }
  }

  @Test
  void laterEpochsMoveAwayFromTheSamplerAndTheKlPenaltyMeasuresIt() {
    try (InferenceSession session = new InferenceSession(model, 64L << 20);
        PolicyTrainer trainer = new PolicyTrainer(model.config(), PolicyTrainer.checkpoint(model),
            new PolicyTrainer.Settings(1e-3, 0, 0.2, TEMPERATURE, 2, 3, 0.1, 1e-3))) {
      PolicyTrainer.Update u = trainer.train(RlRun.paths(sample(session, 11), false));
      // The first minibatch still starts at the sampler's log-probs ...
      assertThat(u.firstRatioDeviation()).isLessThan(1e-4);
      // ... and the later passes see a policy that moved: the KL to the initial model is positive.
      assertThat(u.kl()).isGreaterThan(1e-6);
      assertThat(u.clipFraction()).isBetween(0.0, 1.0);
    }
  }

  @Test
  void aMismatchOverTheToleranceFailsBeforeAnyUpdate() {
    try (InferenceSession session = new InferenceSession(model, 64L << 20);
        // Log-probs at temperature 1 against an engine that sampled at 0.9: a real mismatch.
        PolicyTrainer trainer = new PolicyTrainer(model.config(), PolicyTrainer.checkpoint(model),
            new PolicyTrainer.Settings(1e-3, 0, 0.2, 1.0, 1, 1, 0, 1e-3))) {
      List<SampledPath> paths = RlRun.paths(sample(session, 11), false);
      int[] fixed = probe(sample(session, 11).trees().getFirst());
      float[] before = trainer.score(List.of(fixed), 1.0).getFirst();
      assertThatThrownBy(() -> trainer.train(paths)).isInstanceOf(TreeRollException.class)
          .hasMessageContaining("--max-mismatch");
      assertThat(trainer.score(List.of(fixed), 1.0).getFirst()).containsExactly(before);
    }
  }

  private static boolean nonZero(SampledPath p) {
    for (float a : p.advantages()) {
      if (a != 0) {
        return true;
      }
    }
    return false;
  }

  private static int[] sequence(SampledPath p) {
    int[] seq = java.util.Arrays.copyOf(p.prompt(), p.prompt().length + p.response().length);
    System.arraycopy(p.response(), 0, seq, p.prompt().length, p.response().length);
    return seq;
  }

  /** The prompt and first answer of a tree, as one sequence. */
  private static int[] probe(RolloutTree tree) {
    int[] prompt = tree.prompt();
    int[] response = RolloutTree.responseTokens(tree.leaves().getFirst());
    int[] seq = java.util.Arrays.copyOf(prompt, prompt.length + response.length);
    System.arraycopy(response, 0, seq, prompt.length, response.length);
    return seq;
  }
}
