package org.treeroll.advantage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.treeroll.advantage.Trees.of;

import org.junit.jupiter.api.Test;
import org.treeroll.tree.SegmentNode;

class RoseEstimatorTest {
  private static final org.assertj.core.data.Offset<Double> EXACT = within(1e-9);
  private static final AdvantageEstimator ROSE = AdvantageEstimators.create("rose");

  @Test
  void workedExampleOfAlgorithmsMdBuiltBySplitting() {
    // a (30 tokens, reward 1); b forks from a at token 10 (reward 0); c at token 20 (reward 1).
    // V(root) = 2/3, V(branch at 10) = mean(a, b, c) = 2/3, V(branch at 20) = mean(a, c) = 1.
    // a: tokens 0-9 0, 10-19 +1/3, 20-29 0. b: 0, then -2/3 on 10-29. c: 0, +1/3, 0.
    Trees t = new Trees(0);
    SegmentNode a = t.leaf(t.root(), 30, 1);
    SegmentNode head = t.tree().splitAt(a, 10); // head 0-9, its child holds 10-29 and the reward
    SegmentNode b = t.leaf(head, 20, 0);
    SegmentNode mid = t.tree().splitAt(head.children().get(0), 10); // 10-19, child 20-29
    SegmentNode aTail = mid.children().get(0);
    SegmentNode c = t.leaf(mid, 10, 1);
    t.tree().renumber();
    assertThat(aTail.reward()).isEqualTo(1.0);

    BatchAdvantages r = ROSE.estimate(Trees.batch(t));
    assertThat(of(r, aTail).segmentAdvantages()).containsExactly(new double[] {0, 1.0 / 3, 0}, EXACT);
    assertThat(of(r, b).segmentAdvantages()).containsExactly(new double[] {0, -2.0 / 3}, EXACT);
    assertThat(of(r, c).segmentAdvantages()).containsExactly(new double[] {0, 1.0 / 3, 0}, EXACT);
    float[] tokens = of(r, aTail).tokenAdvantages();
    assertThat(tokens).hasSize(30);
    assertThat(tokens[9]).isZero();
    assertThat(tokens[10]).isEqualTo((float) (1.0 / 3));
    assertThat(tokens[19]).isEqualTo((float) (1.0 / 3));
    assertThat(tokens[20]).isZero();
    assertThat(of(r, b).tokenAdvantages()[29]).isEqualTo((float) (-2.0 / 3));
  }

  @Test
  void chainShareTheSegmentValue() {
    // root -> c -> d -> {A=1, B=0}; root -> E=0. Branch points: root, d, leaves. The ROSE segment
    // root..d spans c and d: V(d) - V(root) = .5 - 1/3 = 1/6 on both. A +.5, B -.5, E -1/3.
    Trees t = new Trees(0);
    SegmentNode d = t.seg(t.seg(t.root(), 1), 1);
    SegmentNode a = t.leaf(d, 1, 1);
    SegmentNode b = t.leaf(d, 1, 0);
    SegmentNode e = t.leaf(t.root(), 1, 0);
    BatchAdvantages r = ROSE.estimate(Trees.batch(t));
    assertThat(of(r, a).segmentAdvantages()).containsExactly(new double[] {1.0 / 6, 1.0 / 6, 0.5}, EXACT);
    assertThat(of(r, b).segmentAdvantages()).containsExactly(new double[] {1.0 / 6, 1.0 / 6, -0.5}, EXACT);
    assertThat(of(r, e).segmentAdvantages()).containsExactly(new double[] {-1.0 / 3}, EXACT);
  }

  @Test
  void unbalancedTree() {
    // root -> {L1=1, n -> {L2=0, m -> L3=1}}: m is a chain node ending at the leaf L3.
    // V(root) 2/3, V(n) .5. L1: 1/3. n: -1/6. L2: -.5. m and L3 form one segment: 1 - .5 = .5.
    Trees t = new Trees(0);
    SegmentNode l1 = t.leaf(t.root(), 2, 1);
    SegmentNode n = t.seg(t.root(), 1);
    SegmentNode l2 = t.leaf(n, 1, 0);
    SegmentNode l3 = t.leaf(t.seg(n, 2), 3, 1);
    BatchAdvantages r = ROSE.estimate(Trees.batch(t));
    assertThat(of(r, l1).segmentAdvantages()).containsExactly(new double[] {1.0 / 3}, EXACT);
    assertThat(of(r, l2).segmentAdvantages()).containsExactly(new double[] {-1.0 / 6, -0.5}, EXACT);
    assertThat(of(r, l3).segmentAdvantages()).containsExactly(new double[] {-1.0 / 6, 0.5, 0.5}, EXACT);
    assertThat(of(r, l3).tokenAdvantages()).containsExactly(
        (float) (-1.0 / 6), 0.5f, 0.5f, 0.5f, 0.5f, 0.5f);
  }

  @Test
  void equalRewardsGiveZero() {
    Trees t = new Trees(0);
    SegmentNode n = t.seg(t.root(), 2);
    SegmentNode a = t.leaf(n, 1, 1);
    SegmentNode b = t.leaf(n, 5, 1);
    BatchAdvantages r = AdvantageEstimators.create("rose:lambda=1").estimate(Trees.batch(t));
    // V is 1 everywhere: 0; the length correction only scales what is there, so 0 stays 0.
    assertThat(of(r, a).segmentAdvantages()).containsExactly(new double[] {0, 0}, EXACT);
    assertThat(of(r, b).segmentAdvantages()).containsExactly(new double[] {0, 0}, EXACT);
  }

  @Test
  void singleLeafHasZeroAdvantage() {
    Trees t = new Trees(0);
    SegmentNode l = t.leaf(t.seg(t.root(), 2), 2, 0.25);
    BatchAdvantages r = AdvantageEstimators.create("rose:lambda=2").estimate(Trees.batch(t));
    assertThat(of(r, l).segmentAdvantages()).containsExactly(new double[] {0, 0}, EXACT);
  }

  /** root -> p(4) -> {s(2)=1, q(2) -> {o1(4)=1, o2(2)=0}}; root -> w(7)=1. */
  private record Detour(Trees t, SegmentNode s, SegmentNode o1, SegmentNode o2, SegmentNode w) {
    static Detour build() {
      Trees t = new Trees(0);
      SegmentNode p = t.seg(t.root(), 4);
      SegmentNode s = t.leaf(p, 2, 1);
      SegmentNode q = t.seg(p, 2);
      return new Detour(t, s, t.leaf(q, 4, 1), t.leaf(q, 2, 0), t.leaf(t.root(), 7, 1));
    }
  }

  @Test
  void lengthCorrectionOffByDefault() {
    // V(root) 3/4, V(p) = mean(s, o1, o2) = 2/3, V(q) = .5.
    // s: p 2/3 - 3/4 = -1/12, s 1/3. o1: -1/12, q .5 - 2/3 = -1/6, o1 .5. o2: -1/12, -1/6, -.5.
    // w: 1/4.
    Detour d = Detour.build();
    BatchAdvantages r = ROSE.estimate(Trees.batch(d.t()));
    assertThat(of(r, d.s()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, 1.0 / 3}, EXACT);
    assertThat(of(r, d.o1()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, -1.0 / 6, 0.5}, EXACT);
    assertThat(of(r, d.o2()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, -1.0 / 6, -0.5}, EXACT);
    assertThat(of(r, d.w()).segmentAdvantages()).containsExactly(new double[] {0.25}, EXACT);
  }

  @Test
  void lengthCorrectionLambdaOne() {
    // shortest correct: s (6 tokens). o1 (10 tokens) shares p with it: k = p, 4 tokens in;
    // r_s = 2, r_o = 6, factor 1 - 1/3 = 2/3. After p: q -1/6 - 1/6 * 2/3 = -5/18,
    // o1 .5 - .5 * 2/3 = 1/6; p keeps -1/12. w (7) shares only the root: r_s 6, r_o 7,
    // factor 1/7: 1/4 - 1/4 * 1/7 = 3/14. s and the wrong o2 are untouched.
    Detour d = Detour.build();
    BatchAdvantages r = AdvantageEstimators.create("rose:lambda=1").estimate(Trees.batch(d.t()));
    assertThat(of(r, d.o1()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, -5.0 / 18, 1.0 / 6}, EXACT);
    assertThat(of(r, d.w()).segmentAdvantages()).containsExactly(new double[] {3.0 / 14}, EXACT);
    assertThat(of(r, d.s()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, 1.0 / 3}, EXACT);
    assertThat(of(r, d.o2()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, -1.0 / 6, -0.5}, EXACT);
    float[] tokens = of(r, d.o1()).tokenAdvantages();
    assertThat(tokens).hasSize(10);
    assertThat(tokens[3]).isEqualTo((float) (-1.0 / 12));
    assertThat(tokens[4]).isEqualTo((float) (-5.0 / 18));
    assertThat(tokens[9]).isEqualTo((float) (1.0 / 6));
  }

  @Test
  void lengthCorrectionLambdaTwo() {
    // o1: factor 1 - (1/3)^2 = 8/9: q -1/6 * (1 + 8/9) = -17/54, o1 .5 * 1/9 = 1/18.
    // w: factor 1 - 36/49 = 13/49: 1/4 * 36/49 = 9/49.
    Detour d = Detour.build();
    BatchAdvantages r = AdvantageEstimators.create("rose:lambda=2").estimate(Trees.batch(d.t()));
    assertThat(of(r, d.o1()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, -17.0 / 54, 1.0 / 18}, EXACT);
    assertThat(of(r, d.w()).segmentAdvantages()).containsExactly(new double[] {9.0 / 49}, EXACT);
  }

  @Test
  void correctThresholdChoosesWhichAnswersCount() {
    // with correct=2 no answer is correct: no correction even at lambda 1.
    Detour d = Detour.build();
    BatchAdvantages r = AdvantageEstimators.create("rose:lambda=1,correct=2").estimate(Trees.batch(d.t()));
    assertThat(of(r, d.o1()).segmentAdvantages()).containsExactly(new double[] {-1.0 / 12, -1.0 / 6, 0.5}, EXACT);
  }
}
