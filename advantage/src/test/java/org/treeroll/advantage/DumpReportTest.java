package org.treeroll.advantage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.advantage.DumpReport.DepthRow;
import org.treeroll.advantage.DumpReport.PolicyRow;
import org.treeroll.advantage.DumpReport.ReasonRow;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;

class DumpReportTest {
  @TempDir Path dir;

  /**
   * Tree 0 (policy "entropy", prompt 3 tokens): root -> n(2) -> {a(1)=1 answered, b(3)=0 repetition,
   * c(2) failed max_tokens}; root -> d(4)=1 eos. Tree 1 ("uniform", prompt 3): root -> e(2) -> f(1)
   * unscored, unfinished. Tree 2 ("entropy", prompt 3): root -> g(1)=0.5 depth_limit.
   */
  static List<RolloutTree> trees() {
    Trees t0 = new Trees(0);
    SegmentNode n = t0.seg(t0.root(), 2);
    t0.leaf(n, 1, 1).finish(FinishReason.ANSWERED);
    t0.leaf(n, 3, 0).finish(FinishReason.REPETITION);
    SegmentNode c = t0.seg(n, 2);
    c.finish(FinishReason.MAX_TOKENS);
    c.setRewardError("no answer");
    t0.leaf(t0.root(), 4, 1).finish(FinishReason.EOS);
    RolloutTree tree0 = new RolloutTree(0, new int[] {1, 2, 3}, 0, 0, "entropy");
    copy(t0.tree().root(), tree0.root(), tree0);

    RolloutTree tree1 = new RolloutTree(1, new int[] {1, 2, 3}, 0, 0, "uniform");
    SegmentNode e = tree1.addChild(tree1.root(), 0);
    e.append(7, -1, 1);
    e.append(8, -1, 1);
    tree1.addChild(e, 0).append(9, -1, 1);

    RolloutTree tree2 = new RolloutTree(2, new int[] {1, 2, 3}, 0, 0, "entropy");
    SegmentNode g = tree2.addChild(tree2.root(), 0);
    g.append(5, -1, 1);
    g.finish(FinishReason.DEPTH_LIMIT);
    g.setReward(0.5);
    return List.of(tree0, tree1, tree2);
  }

  /** Copies the hand-built test tree under a tree with the wanted policy name. */
  private static void copy(SegmentNode from, SegmentNode to, RolloutTree tree) {
    for (SegmentNode k : from.children()) {
      SegmentNode c = tree.addChild(to, k.seed());
      for (int i = 0; i < k.tokenCount(); i++) {
        c.append(k.token(i), k.logProbs()[i], k.entropy(i));
      }
      if (k.finishReason() != null) {
        c.finish(k.finishReason());
      }
      if (k.hasReward()) {
        c.setReward(k.reward());
      }
      if (k.rewardError() != null) {
        c.setRewardError(k.rewardError());
      }
      copy(k, c, tree);
    }
  }

  @Test
  void countsShapeReasonsRewardsAndTokens() {
    DumpReport r = DumpReport.of(trees(), null);
    assertThat(r.trees()).isEqualTo(3);
    assertThat(r.leaves()).isEqualTo(6);
    // depth 1: d=1, g=.5 -> mean .75; depth 2: a=1, b=0, c failed, f unscored -> 2 scored, mean .5
    assertThat(r.byDepth()).containsExactly(new DepthRow(1, 2, 2, 0.75), new DepthRow(2, 4, 2, 0.5));
    // entropy: 2 trees, branch points root and n of tree 0 (tree 2's root has one child); uniform: 0
    assertThat(r.byPolicy()).containsExactly(new PolicyRow("entropy", 2, 2), new PolicyRow("uniform", 1, 0));
    assertThat(r.byPolicy().get(0).branchPointsPerTree()).isEqualTo(1.0);
    assertThat(r.byFinishReason()).contains(new ReasonRow(FinishReason.ANSWERED, 1),
        new ReasonRow(FinishReason.REPETITION, 1), new ReasonRow(FinishReason.MAX_TOKENS, 1),
        new ReasonRow(FinishReason.EOS, 1), new ReasonRow(FinishReason.DEPTH_LIMIT, 1),
        new ReasonRow(FinishReason.STOP_TOKEN, 0), new ReasonRow(null, 1));
    // scored a, b, d, g: (1 + 0 + 1 + .5) / 4 = .625; c failed; f unscored
    assertThat(r.rewards()).isEqualTo(new DumpReport.RewardSummary(4, 1, 1, 0.625));
    // distinct: tree 0 3+2+1+3+2+4 = 15, tree 1 3+2+1 = 6, tree 2 3+1 = 4: 25.
    // independent: tree 0 3 + (3 + 5 + 4 + 4) = 19, tree 1 3 + 3 = 6, tree 2 3 + 1 = 4: 29.
    assertThat(r.tokens()).isEqualTo(new DumpReport.TokenSummary(25, 29));
    assertThat(r.tokens().ratio()).isCloseTo(25.0 / 29, within(1e-12));
    assertThat(r.advantages()).isNull();
  }

  @Test
  void advantagesRecomputedFromADump() {
    Path dump = dir.resolve("trees.jsonl");
    TreeDump.write(dump, trees());
    DumpReport r = DumpReport.of(TreeDump.read(dump), AdvantageEstimators.create("grpo:std=false"));
    // Dr.GRPO. tree 0 scored {a 1, b 0, d 1}: mean 2/3; a +1/3 (3 tokens: n + a), b -2/3 (5 tokens),
    // d +1/3 (4 tokens). tree 2: g 0 (1 token). c and f are masked out.
    // 13 valid tokens: sum 3/3 - 10/3 + 4/3 = -1, mean -1/13; 7 positive.
    DumpReport.AdvantageSummary a = r.advantages();
    assertThat(a.estimator()).isEqualTo("grpo:eps=1.0E-6,std=false");
    assertThat(a.paths()).isEqualTo(6);
    assertThat(a.included()).isEqualTo(4);
    assertThat(a.skipped()).isEqualTo(2);
    assertThat(a.tokens()).isEqualTo(13);
    assertThat(a.mean()).isCloseTo(-1.0 / 13, within(1e-6));
    assertThat(a.min()).isCloseTo(-2.0 / 3, within(1e-6));
    assertThat(a.max()).isCloseTo(1.0 / 3, within(1e-6));
    assertThat(a.positive()).isCloseTo(7.0 / 13, within(1e-12));
    // population std: mean of squares (7 * 1/9 + 5 * 4/9 + 0) / 13 = 27/117, minus mean^2 1/169
    assertThat(a.std()).isCloseTo(Math.sqrt(27.0 / 117 - 1.0 / 169), within(1e-6));
  }

  @Test
  void emptyInputGivesAnEmptyReport() {
    DumpReport r = DumpReport.of(List.of(), AdvantageEstimators.create("spo"));
    assertThat(r.leaves()).isZero();
    assertThat(r.rewards().mean()).isNull();
    assertThat(r.advantages().mean()).isNull();
    assertThat(r.tokens().ratio()).isZero();
  }
}
