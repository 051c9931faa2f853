package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.advantage.PathAdvantage;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.RewardedRollouts;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.export.Exporter;
import org.treeroll.reward.Reward;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.RewardRequest;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/** Problems in, rewarded trees, advantages and trainer files out, through the embedded API. */
class RewardedRolloutsTest {
  @TempDir static Path tmp;
  static LoadedModel model;
  static InferenceSession session;

  @BeforeAll
  static void load() {
    Path dir = tmp.resolve("tiny-llama");
    RandomModelWriter.write(dir, ModelPreset.TINY_LLAMA, 11, DType.F32, tmp);
    model = LoadedModel.open(dir);
    session = new InferenceSession(null, model, 8L << 20, 4, 64);
  }

  @AfterAll
  static void close() {
    session.close();
    model.close();
  }

  /** Scores off the caller's thread, as a remote verifier would; fails on one answer in seven. */
  static final class ParityReward implements RewardFunction {
    final AtomicInteger calls = new AtomicInteger();

    @Override
    public String name() {
      return "parity";
    }

    @Override
    public CompletableFuture<Reward> score(RewardRequest r) {
      int n = calls.incrementAndGet();
      return CompletableFuture.supplyAsync(() -> n % 7 == 0 ? Reward.failed("verifier unavailable")
          : Reward.of(r.response().length() % 2 == 0));
    }
  }

  @Test
  void everyAnswerIsScoredAndExportedWithItsAdvantages() {
    ParityReward reward = new ParityReward();
    RewardedRollouts rollouts = new RewardedRollouts(session, reward, AdvantageEstimators.create("treepo"));
    List<TreeRewards.Problem> problems = List.of(new TreeRewards.Problem("Q: 2+2=?\n", "4"),
        new TreeRewards.Problem("Q: 3*3=?\n", "9"));
    TreeRolloutConfig cfg = new TreeRolloutConfig(4, 3, 2, 6, 2, 12);
    AtomicInteger progress = new AtomicInteger();
    RewardedRollouts.Result r = rollouts.run(problems, cfg, SamplingParams.defaults().withSeed(2), progress::set);

    assertThat(r.leaves()).isEqualTo(12);
    assertThat(progress.get()).isEqualTo(12);
    assertThat(reward.calls.get()).isEqualTo(12);
    for (RolloutTree t : r.trees()) {
      for (SegmentNode leaf : t.leaves()) {
        assertThat(leaf.hasReward() || leaf.rewardError() != null).isTrue();
      }
    }
    assertThat(r.rewards().scored() + r.rewards().errors()).isEqualTo(12);
    assertThat(r.rewards().errors()).isEqualTo(1);
    assertThat(r.advantages().paths()).hasSize(12);
    assertThat(r.advantages().failed()).isEqualTo(1);
    for (PathAdvantage p : r.advantages().paths()) {
      assertThat(p.tokenAdvantages()).hasSize(RolloutTree.responseTokens(p.leaf()).length);
    }
    assertThat(r.stats().computedTokens()).isLessThanOrEqualTo(r.independentTokens());

    for (String format : List.of("jsonl", "parquet")) {
      Path out = tmp.resolve("export." + format);
      Exporter.forFormat(format).write(out, r.advantages());
      assertThat(out).exists();
      assertThat(out.toFile().length()).isPositive();
    }
  }
}
