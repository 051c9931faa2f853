package org.treeroll.advantage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.treeroll.advantage.Trees.of;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.treeroll.advantage.TreePoEstimator.Groups;
import org.treeroll.advantage.TreePoEstimator.Weighting;
import org.treeroll.tree.SegmentNode;

class TreePoEstimatorTest {
  private static final org.assertj.core.data.Offset<Double> EXACT = within(1e-9);

  private static final TreePoEstimator RAW = new TreePoEstimator(false, Weighting.MEAN, Groups.DEPTH);

  private static double adv(BatchAdvantages r, SegmentNode leaf) {
    double[] s = of(r, leaf).segmentAdvantages();
    assertThat(s).as("the leaf's A on every segment").containsOnly(s[0]);
    return s[0];
  }

  /** root -> c1 -> {A=1, B=0}, root -> c2 -> {C=1, D=1}, every leaf path 2 + 3 tokens. */
  private record Four(Trees t, SegmentNode a, SegmentNode b, SegmentNode c, SegmentNode d) {
    static Four build() {
      Trees t = new Trees(0);
      SegmentNode c1 = t.seg(t.root(), 2);
      SegmentNode c2 = t.seg(t.root(), 2);
      return new Four(t, t.leaf(c1, 3, 1), t.leaf(c1, 3, 0), t.leaf(c2, 3, 1), t.leaf(c2, 3, 1));
    }
  }

  @Test
  void workedExampleAverage() {
    // root mean .75: A +.25, B -.75, C +.25, D +.25; c1 mean .5: A +.5, B -.5; c2 mean 1: C 0, D 0.
    // average: A .375, B -.625, C .125, D .125.
    Four f = Four.build();
    BatchAdvantages r = RAW.estimate(Trees.batch(f.t()));
    assertThat(adv(r, f.a())).isCloseTo(0.375, EXACT);
    assertThat(adv(r, f.b())).isCloseTo(-0.625, EXACT);
    assertThat(adv(r, f.c())).isCloseTo(0.125, EXACT);
    assertThat(adv(r, f.d())).isCloseTo(0.125, EXACT);
    assertThat(of(r, f.b()).tokenAdvantages()).hasSize(5).containsOnly(-0.625f);
  }

  @Test
  void workedExampleSizeWeighted() {
    // weights 4 (root) and 2 (subgroup): A (4*.25 + 2*.5)/6 = 1/3, B (4*-.75 + 2*-.5)/6 = -2/3,
    // C and D (4*.25 + 2*0)/6 = 1/6.
    Four f = Four.build();
    BatchAdvantages r = AdvantageEstimators.create("treepo:whiten=false,weighting=size").estimate(Trees.batch(f.t()));
    assertThat(adv(r, f.a())).isCloseTo(1.0 / 3, EXACT);
    assertThat(adv(r, f.b())).isCloseTo(-2.0 / 3, EXACT);
    assertThat(adv(r, f.c())).isCloseTo(1.0 / 6, EXACT);
  }

  @Test
  void workedExampleWhitened() {
    // equal lengths: mean of (.375, -.625, .125, .125) = 0; population var
    // (.140625 + .390625 + .015625 + .015625) / 4 = .140625, std .375:
    // A 1, B -1.6666666666666667, C and D .3333333333333333.
    Four f = Four.build();
    BatchAdvantages r = AdvantageEstimators.create("treepo").estimate(Trees.batch(f.t()));
    assertThat(adv(r, f.a())).isCloseTo(1.0, EXACT);
    assertThat(adv(r, f.b())).isCloseTo(-5.0 / 3, EXACT);
    assertThat(adv(r, f.c())).isCloseTo(1.0 / 3, EXACT);
    assertThat(adv(r, f.d())).isCloseTo(1.0 / 3, EXACT);
    assertThat(r.estimator()).isEqualTo("treepo:groups=depth,weighting=mean,whiten=true");
  }

  @Test
  void workedExampleEightLeaves() {
    // binary, depth 3, rewards (1,1,0,0 | 1,0,0,0): root mean 3/8, halves .5 and .25, pairs.
    // leaf 1: (.625 + .5 + 0)/3 = .375; leaf 3: (-.375 - .5 + 0)/3 = -.2916...;
    // leaf 5: (.625 + .75 + .5)/3 = .625; leaf 6: (-.375 - .25 - .5)/3 = -.375;
    // leaf 7: (-.375 - .25 + 0)/3 = -.2083...
    Trees t = new Trees(0);
    double[] rewards = {1, 1, 0, 0, 1, 0, 0, 0};
    SegmentNode[] leaves = new SegmentNode[8];
    int k = 0;
    for (int h = 0; h < 2; h++) {
      SegmentNode half = t.seg(t.root(), 2);
      for (int q = 0; q < 2; q++) {
        SegmentNode pair = t.seg(half, 2);
        for (int l = 0; l < 2; l++) {
          leaves[k] = t.leaf(pair, 2, rewards[k]);
          k++;
        }
      }
    }
    BatchAdvantages r = RAW.estimate(Trees.batch(t));
    double[] expected = {0.375, 0.375, -0.875 / 3, -0.875 / 3, 0.625, -0.375, -0.625 / 3, -0.625 / 3};
    for (int i = 0; i < 8; i++) {
      assertThat(adv(r, leaves[i])).as("leaf %d", i + 1).isCloseTo(expected[i], EXACT);
    }
  }

  /** root -> {L1 (2 tokens) = 1, n (1 token) -> {L2 (1 token) = 0, L3 (3 tokens) = 1}}. */
  private record Unbalanced(Trees t, SegmentNode l1, SegmentNode l2, SegmentNode l3) {
    static Unbalanced build() {
      Trees t = new Trees(0);
      SegmentNode l1 = t.leaf(t.root(), 2, 1);
      SegmentNode n = t.seg(t.root(), 1);
      return new Unbalanced(t, l1, t.leaf(n, 1, 0), t.leaf(n, 3, 1));
    }
  }

  @Test
  void unbalancedTree() {
    // root mean 2/3. L1: only the root term, 1/3. L2: root -2/3, n {0, 1} mean .5: -.5;
    // average -7/12. L3: 1/3 and .5: 5/12.
    Unbalanced u = Unbalanced.build();
    BatchAdvantages r = RAW.estimate(Trees.batch(u.t()));
    assertThat(adv(r, u.l1())).isCloseTo(1.0 / 3, EXACT);
    assertThat(adv(r, u.l2())).isCloseTo(-7.0 / 12, EXACT);
    assertThat(adv(r, u.l3())).isCloseTo(5.0 / 12, EXACT);
    // size-weighted: L2 (3 * -2/3 + 2 * -.5) / 5 = -.6; L3 (3 * 1/3 + 2 * .5) / 5 = .4.
    BatchAdvantages s = new TreePoEstimator(false, Weighting.SIZE, Groups.DEPTH).estimate(Trees.batch(u.t()));
    assertThat(adv(s, u.l1())).isCloseTo(1.0 / 3, EXACT);
    assertThat(adv(s, u.l2())).isCloseTo(-0.6, EXACT);
    assertThat(adv(s, u.l3())).isCloseTo(0.4, EXACT);
  }

  @Test
  void whiteningWeighsAnswersByTheirTokens() {
    // lengths L1 2, L2 2, L3 4 (8 tokens); A 16/48, -28/48, 20/48. token mean
    // (2*16 - 2*28 + 4*20)/48/8 = 7/48. deviations 9/48, -35/48, 13/48;
    // var (2*81 + 2*1225 + 4*169) / 48^2 / 8 = 3288/18432, std .42235697776486025:
    // L1 .4439372613002911, L2 -1.7264226828344653, L3 .641242710767087.
    Unbalanced u = Unbalanced.build();
    BatchAdvantages r = new TreePoEstimator(true, Weighting.MEAN, Groups.DEPTH).estimate(Trees.batch(u.t()));
    assertThat(adv(r, u.l1())).isCloseTo(0.4439372613002911, EXACT);
    assertThat(adv(r, u.l2())).isCloseTo(-1.7264226828344653, EXACT);
    assertThat(adv(r, u.l3())).isCloseTo(0.641242710767087, EXACT);
    assertThat(of(r, u.l3()).tokenAdvantages()).hasSize(4).containsOnly((float) 0.641242710767087);
  }

  @Test
  void whiteningSpansTheWholeBatch() {
    // tree 0: {1, 0} -> A +.5, -.5 (root only); tree 1: {1} -> 0. Equal lengths (1 token):
    // batch mean 0, population var (.25 + .25 + 0) / 3 = 1/6: +-.5 * sqrt(6) = +-1.224744871391589.
    Trees t0 = new Trees(0);
    SegmentNode a = t0.leaf(t0.root(), 1, 1);
    SegmentNode b = t0.leaf(t0.root(), 1, 0);
    Trees t1 = new Trees(1);
    SegmentNode c = t1.leaf(t1.root(), 1, 1);
    BatchAdvantages r = AdvantageEstimators.create("treepo").estimate(Trees.batch(t0, t1));
    assertThat(adv(r, a)).isCloseTo(1.224744871391589, EXACT);
    assertThat(adv(r, b)).isCloseTo(-1.224744871391589, EXACT);
    assertThat(adv(r, c)).isCloseTo(0, EXACT);
  }

  @Test
  void equalRewardsGiveZeroAlsoWhitened() {
    // every a_j is 0, so every A is 0; the std is 0 and whitening only subtracts the mean 0.
    Trees t = new Trees(0);
    SegmentNode n = t.seg(t.root(), 2);
    List<SegmentNode> leaves = List.of(t.leaf(n, 1, 0.3), t.leaf(n, 3, 0.3), t.leaf(t.root(), 2, 0.3));
    for (String spec : List.of("treepo", "treepo:whiten=false", "treepo:weighting=size")) {
      BatchAdvantages r = AdvantageEstimators.create(spec).estimate(Trees.batch(t));
      for (SegmentNode l : leaves) {
        assertThat(adv(r, l)).as(spec).isCloseTo(0, EXACT);
      }
    }
  }

  @Test
  void singleLeafHasZeroAdvantage() {
    // root term 1 - 1 = 0; the chain node above it holds one leaf, so it does not count.
    Trees t = new Trees(0);
    SegmentNode l = t.leaf(t.seg(t.root(), 2), 3, 1);
    BatchAdvantages r = AdvantageEstimators.create("treepo").estimate(Trees.batch(t));
    assertThat(of(r, l).segmentAdvantages()).containsExactly(new double[] {0, 0}, EXACT);
    assertThat(of(r, l).tokenAdvantages()).hasSize(5).containsOnly(0f);
  }

  @Test
  void chainsCountOncePerDepthOrOncePerBranch() {
    // root -> c -> d -> {A=1, B=0}; root -> E=0. c and d hold the same leaves {A, B}, mean .5;
    // the root mean is 1/3. By depth A: (2/3 + .5 + .5)/3 = 5/9. By branch (c has one child and
    // is skipped): (2/3 + .5)/2 = 7/12.
    Trees t = new Trees(0);
    SegmentNode d = t.seg(t.seg(t.root(), 1), 1);
    SegmentNode a = t.leaf(d, 1, 1);
    t.leaf(d, 1, 0);
    t.leaf(t.root(), 1, 0);
    assertThat(adv(RAW.estimate(Trees.batch(t)), a)).isCloseTo(5.0 / 9, EXACT);
    BatchAdvantages branch = AdvantageEstimators.create("treepo:whiten=false,groups=branch").estimate(Trees.batch(t));
    assertThat(adv(branch, a)).isCloseTo(7.0 / 12, EXACT);
  }
}
