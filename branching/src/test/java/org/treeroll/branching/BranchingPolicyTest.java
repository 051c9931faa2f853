package org.treeroll.branching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

class BranchingPolicyTest {
  private final SplittableRandom rng = new SplittableRandom(1);

  @Test
  void budgetTransferFollowsTreePO() {
    TreeRolloutConfig c = new TreeRolloutConfig(8, 6, 2, 16, 2, 48);
    // 2 live, nothing finished: min(16 - 0, 2 * 2) = 4.
    assertThat(c.childrenAtBoundary(2, 0, 0)).isEqualTo(4);
    // 3 live, 1 died this segment, 5 leaves so far: min(11, 2 * 4) = 8: the dead path's share moves on.
    assertThat(c.childrenAtBoundary(3, 1, 5)).isEqualTo(8);
    // Budget nearly spent: min(16 - 14, 2 * 6) = 2, but the 6 live paths all continue.
    assertThat(c.childrenAtBoundary(6, 0, 14)).isEqualTo(6);
  }

  @Test
  void treePoEvenSplitSpendsTheWholeBudgetFirstNodesFirst() {
    List<SegmentNode> live = nodes(3, 1);
    assertThat(TreePoPolicy.even().allocate(live, 7, rng)).containsExactly(3, 2, 2);
    assertThat(TreePoPolicy.even().allocate(live, 3, rng)).containsExactly(1, 1, 1);
  }

  @Test
  void treePoProbabilityDrivenSplitFollowsTheSoftmax() {
    List<SegmentNode> live = nodes(2, 1);
    live.get(0).append(5, -0.2f, 1f); // likely segment: mean log-prob -0.2
    live.get(1).append(6, -4.2f, 1f); // unlikely: -4.2
    // low, T = 2: weights exp(0.1) : exp(2.1) = 1 : e^2 = 0.119 : 0.881 of 4 spare children
    // = 0.48 : 3.52 -> floors 0 : 3, the last child to the larger remainder (0.52): 1 + 0, 1 + 4.
    assertThat(new TreePoPolicy(TreePoPolicy.Divergence.LOW, 2).allocate(live, 6, rng)).containsExactly(1, 5);
    assertThat(new TreePoPolicy(TreePoPolicy.Divergence.HIGH, 2).allocate(live, 6, rng)).containsExactly(5, 1);
    // The sum always equals the budget and every node keeps one child.
    int[] a = new TreePoPolicy(TreePoPolicy.Divergence.LOW, 0.01).allocate(live, 9, rng);
    assertThat(a).containsExactly(1, 8);
  }

  @Test
  void fixedScheduleForksOnlyAtItsDepthsWithinBudget() {
    FixedSchedulePolicy p = new FixedSchedulePolicy(2, 3, 4);
    assertThat(p.allocate(nodes(2, 1), 8, rng)).containsExactly(1, 1); // depth 1: no fork
    assertThat(p.allocate(nodes(3, 3), 8, rng)).containsExactly(2, 2, 2); // depth 3: fork in 2
    assertThat(p.allocate(nodes(3, 4), 4, rng)).containsExactly(2, 1, 1); // one spare child only
    assertThatThrownBy(() -> new FixedSchedulePolicy(2, 0)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("fork depths");
  }

  @Test
  void entropyForksTheMostUncertainSegmentsFirst() {
    List<SegmentNode> live = nodes(3, 1);
    live.get(0).append(1, -1f, 0.5f);
    live.get(0).append(1, -1f, 0.5f); // mean 0.5, max 0.5
    live.get(1).append(1, -1f, 0.1f);
    live.get(1).append(1, -1f, 2.9f); // mean 1.5, max 2.9
    live.get(2).append(1, -1f, 1.0f);
    live.get(2).append(1, -1f, 2.2f); // mean 1.6, max 2.2
    EntropyPolicy mean = new EntropyPolicy(EntropyPolicy.Reduce.MEAN, Double.NEGATIVE_INFINITY, 2);
    assertThat(mean.allocate(live, 4, rng)).containsExactly(1, 1, 2); // node 2 has the top mean
    assertThat(mean.allocate(live, 5, rng)).containsExactly(1, 2, 2);
    EntropyPolicy max = new EntropyPolicy(EntropyPolicy.Reduce.MAX, Double.NEGATIVE_INFINITY, 2);
    assertThat(max.allocate(live, 4, rng)).containsExactly(1, 2, 1); // node 1 has the top max
    EntropyPolicy threshold = new EntropyPolicy(EntropyPolicy.Reduce.MEAN, 1.55, 3);
    assertThat(threshold.allocate(live, 9, rng)).containsExactly(1, 1, 3); // only node 2 clears 1.55
  }

  @Test
  void randomSpendsTheBudgetOnDifferentNodesForDifferentSeeds() {
    RandomPolicy p = new RandomPolicy(2);
    List<SegmentNode> live = nodes(8, 1);
    int[] a = p.allocate(live, 10, new SplittableRandom(1));
    assertThat(Arrays.stream(a).sum()).isEqualTo(10);
    assertThat(a).containsOnly(1, 2);
    boolean differs = IntStream.range(2, 20)
        .anyMatch(s -> !Arrays.equals(a, p.allocate(live, 10, new SplittableRandom(s))));
    assertThat(differs).isTrue();
  }

  @Test
  void depthFirstFallbackCutsAnAnsweredLeafBackToASegmentBoundary() {
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "treepo");
    SegmentNode a = t.addChild(t.root(), 1);
    a.append(2, 0f, 0f);
    SegmentNode b = t.addChild(a, 2);
    b.append(3, 0f, 0f);
    b.finish(FinishReason.ANSWERED);
    SegmentNode c = t.addChild(t.root(), 3);
    c.append(4, 0f, 0f);
    c.finish(FinishReason.REPETITION);
    for (int seed = 0; seed < 20; seed++) {
      List<ForkPoint> f = DepthFirstFallback.forks(t, 2, 2, new SplittableRandom(seed));
      assertThat(f).hasSize(1);
      // The answered leaf b is picked; the cut is the root or a, never b itself or c's path.
      assertThat(f.get(0).node()).isIn(t.root(), a);
      assertThat(f.get(0).offset()).isEqualTo(f.get(0).node().tokenCount());
      assertThat(f.get(0).children()).isEqualTo(2);
    }
    // Five missing answers: three cuts of 2, 2 and 1, the second-ranked leaf (EOS-less c) used too.
    List<ForkPoint> all = DepthFirstFallback.forks(t, 5, 2, rng);
    assertThat(all).extracting(ForkPoint::children).containsExactly(2, 2, 1);
    assertThat(all.get(1).node()).isEqualTo(t.root()); // c's only boundary before its end is the root
    assertThat(DepthFirstFallback.forks(t, 1, 2, rng).get(0).children()).isEqualTo(1);
  }

  @Test
  void roseScoresPositionsWhereLikelyAlternativesDifferInMeaning() {
    // Embeddings: tokens 10 and 11 point the same way ("can"/"need"), 12 is orthogonal to both.
    Map<Integer, float[]> emb = Map.of(10, new float[] {1, 0}, 11, new float[] {1, 0}, 12, new float[] {0, 1},
        13, new float[] {0, 1});
    BranchingContext ctx = context(emb, Map.of());
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "rose");
    SegmentNode n = t.addChild(t.root(), 1);
    float half = (float) Math.log(0.5);
    n.append(10, half, 0.1f, new int[] {10, 13}, new float[] {0, -30}); // certain
    n.append(10, half, 0.69f, new int[] {10, 11}, new float[] {half, half}); // same meaning
    n.append(10, half, 0.69f, new int[] {10, 12}, new float[] {half, half}); // different meaning
    n.finish(FinishReason.EOS);
    // F = |E^T p|^2 - |p|^2. Same direction: |(1, 0)|^2 - 0.5 = 0.5. Orthogonal: |(0.5, 0.5)|^2 - 0.5 = 0.
    assertThat(RoseSemanticPolicy.similarMass(new int[] {10, 11}, new float[] {half, half}, ctx)).isCloseTo(0.5, within(1e-6));
    assertThat(RoseSemanticPolicy.similarMass(new int[] {10, 12}, new float[] {half, half}, ctx)).isCloseTo(0.0, within(1e-6));
    RoseSemanticPolicy cosine = new RoseSemanticPolicy(0, RoseSemanticPolicy.Score.COSINE, 2, 1);
    assertThat(cosine.score(n, 1, ctx)).isCloseTo(-0.5, within(1e-6));
    assertThat(cosine.score(n, 2, ctx)).isCloseTo(0.0, within(1e-6));
    // With epsilon 0 the fork goes to the position with different-meaning alternatives: token 2.
    List<ForkPoint> f = cosine.refill(t, 4, ctx, rng);
    assertThat(f).containsExactly(new ForkPoint(n, 2, 1));
    // per_round 2: the second pick is the next best untaken position, token 1.
    RoseSemanticPolicy two = new RoseSemanticPolicy(0, RoseSemanticPolicy.Score.COSINE_ENTROPY, 2, 2);
    assertThat(two.refill(t, 4, ctx, rng)).extracting(ForkPoint::offset).containsExactly(2, 1);
    // Epsilon 1: always a fresh answer from the root.
    RoseSemanticPolicy fresh = new RoseSemanticPolicy(1, RoseSemanticPolicy.Score.COSINE, 2, 3);
    assertThat(fresh.refill(t, 4, ctx, rng)).containsExactly(ForkPoint.atEnd(t.root(), 3));
    // ROSE never forks at segment boundaries.
    assertThat(cosine.allocate(nodes(3, 1), 6, rng)).containsExactly(1, 1, 1);
  }

  @Test
  void semanticEntropyGroupsSiblingAnswersByMeaning() {
    // Classes {4, 4, 4/1 -> "4", 5}: counts 3 and 1 -> -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.5623.
    assertThat(SemanticEntropyPolicy.semanticEntropy(List.of("4", "4", "4", "5"))).isCloseTo(0.562335, within(1e-6));
    assertThat(SemanticEntropyPolicy.semanticEntropy(List.of("7", "7"))).isZero();
    assertThat(SemanticEntropyPolicy.semanticEntropy(List.of("1", "2", "3", "4"))).isCloseTo(Math.log(4), within(1e-12));
    // Tree: root -> x -> {x1: "4", x2: "4"}, root -> y -> {y1: "4", y2: "9"}. H(x) = 0, H(y) = ln 2,
    // H(root) over {4, 4, 4, 9} = 0.5623: y disagrees most, so the new answers fork at y's end.
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "semantic-entropy");
    SegmentNode x = t.addChild(t.root(), 1);
    SegmentNode y = t.addChild(t.root(), 2);
    for (SegmentNode n : List.of(x, y)) {
      n.append(2, 0f, 0f);
    }
    Map<SegmentNode, String> answers = new java.util.IdentityHashMap<>();
    String[] classes = {"4", "4", "4", "9"};
    int i = 0;
    for (SegmentNode parent : List.of(x, x, y, y)) {
      SegmentNode leaf = t.addChild(parent, 10 + i);
      leaf.append(3, 0f, 0f);
      leaf.finish(FinishReason.ANSWERED);
      answers.put(leaf, classes[i++]);
    }
    BranchingContext ctx = context(Map.of(), answers);
    assertThat(new SemanticEntropyPolicy().refill(t, 5, ctx, rng)).containsExactly(ForkPoint.atEnd(y, 2));
  }

  @Test
  void repetitionRuleFindsLoopsNotNumbers() {
    RepetitionRule rule = new RepetitionRule(4, 4, 8);
    assertThat(rule.endsInLoop(IntArrayList.of(9, 1, 2, 1, 2, 1, 2, 1, 2))).isTrue(); // "12" x4 = 8 tokens
    assertThat(rule.endsInLoop(IntArrayList.of(1, 2, 1, 2, 1, 2, 1, 3))).isFalse();
    assertThat(rule.endsInLoop(IntArrayList.of(0, 0, 0, 0, 0))).isFalse(); // shorter than min span
    assertThat(rule.endsInLoop(IntArrayList.of(0, 0, 0, 0, 0, 0, 0, 0))).isTrue();
    assertThat(RepetitionRule.OFF.endsInLoop(IntArrayList.of(0, 0, 0, 0, 0, 0, 0, 0))).isFalse();
  }

  @Test
  void everyPolicyIsSelectableByNameAndBadSpecsNameTheProblem() {
    for (String name : BranchingPolicies.names()) {
      assertThat(BranchingPolicies.create(name).name()).isEqualTo(name);
    }
    assertThat(BranchingPolicies.create("fixed:depths=2/3").allocate(nodes(2, 3), 4, rng)).containsExactly(2, 2);
    assertThatThrownBy(() -> BranchingPolicies.create("beam")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("unknown branching policy 'beam'")
        .hasMessageContaining("entropy, fixed, random, rose, semantic-entropy, treepo");
    assertThatThrownBy(() -> BranchingPolicies.create("rose:epsilon=2")).hasMessageContaining("epsilon");
    assertThatThrownBy(() -> BranchingPolicies.create("entropy:reduce=median")).hasMessageContaining("mean or max");
    assertThatThrownBy(() -> BranchingPolicies.create("treepo:divergence=wide")).hasMessageContaining("even, low, high");
    assertThatThrownBy(() -> BranchingPolicies.create("fixed:depths=0/2")).hasMessageContaining("depths");
    assertThatThrownBy(() -> TreeRolloutConfig.defaults().withPolicy("entropy:colour=red"))
        .hasMessageContaining("has no parameter 'colour'");
  }

  @Test
  void configRefusesBadValuesByName() {
    assertThatThrownBy(() -> new TreeRolloutConfig(0, 4, 2, 8, 2, 32)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("segment_length");
    assertThatThrownBy(() -> new TreeRolloutConfig(8, 4, 9, 8, 2, 32)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("initial_divergence");
    TreeRolloutConfig ind = TreeRolloutConfig.independent(4, 10);
    assertThat(ind.initialDivergence()).isEqualTo(4);
    assertThat(ind.maxDepth()).isEqualTo(1);
  }

  private static BranchingContext context(Map<Integer, float[]> emb, Map<SegmentNode, String> answers) {
    return new BranchingContext() {
      @Override
      public int branchingFactor() {
        return 2;
      }

      @Override
      public float[] unitEmbedding(int token) {
        return emb.get(token);
      }

      @Override
      public String answerClass(SegmentNode leaf) {
        return answers.get(leaf);
      }
    };
  }

  /** {@code n} sibling nodes at {@code depth}. */
  private static List<SegmentNode> nodes(int n, int depth) {
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "treepo");
    SegmentNode parent = t.root();
    for (int d = 1; d < depth; d++) {
      parent = t.addChild(parent, d);
    }
    SegmentNode p = parent;
    return IntStream.range(0, n).mapToObj(i -> t.addChild(p, i)).toList();
  }
}
