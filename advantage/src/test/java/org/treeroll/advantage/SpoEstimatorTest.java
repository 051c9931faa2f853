package org.treeroll.advantage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.treeroll.advantage.Trees.of;

import org.junit.jupiter.api.Test;
import org.treeroll.tree.SegmentNode;

class SpoEstimatorTest {
  private static final org.assertj.core.data.Offset<Double> EXACT = within(1e-9);
  private static final AdvantageEstimator SPO = AdvantageEstimators.create("spo");

  @Test
  void workedExampleOfAlgorithmsMd() {
    // root -> {X, Y}; X -> {x1=1, x2=1}; Y -> {y1=1, y2=0}. V(root) .75, V(X) 1, V(Y) .5.
    // X +.25, Y -.25; x1 0, x2 0, y1 +.5, y2 -.5.
    Trees t = new Trees(0);
    SegmentNode x = t.seg(t.root(), 2);
    SegmentNode y = t.seg(t.root(), 3);
    SegmentNode x1 = t.leaf(x, 1, 1);
    SegmentNode x2 = t.leaf(x, 1, 1);
    SegmentNode y1 = t.leaf(y, 1, 1);
    SegmentNode y2 = t.leaf(y, 2, 0);
    BatchAdvantages r = SPO.estimate(Trees.batch(t));
    assertThat(of(r, x1).segmentAdvantages()).containsExactly(new double[] {0.25, 0}, EXACT);
    assertThat(of(r, x2).segmentAdvantages()).containsExactly(new double[] {0.25, 0}, EXACT);
    assertThat(of(r, y1).segmentAdvantages()).containsExactly(new double[] {-0.25, 0.5}, EXACT);
    assertThat(of(r, y2).segmentAdvantages()).containsExactly(new double[] {-0.25, -0.5}, EXACT);
    // tokens of root-Y-y2: Y's 3 tokens -.25, y2's 2 tokens -.5
    assertThat(of(r, y2).tokenAdvantages()).containsExactly(-0.25f, -0.25f, -0.25f, -0.5f, -0.5f);
  }

  @Test
  void unbalancedTree() {
    // root -> {L1=1, n -> {L2=0, L3=1}}. V(root) 2/3, V(n) .5.
    // L1: 1 - 2/3 = 1/3. n: .5 - 2/3 = -1/6; L2: 0 - .5 = -.5; L3: +.5.
    Trees t = new Trees(0);
    SegmentNode l1 = t.leaf(t.root(), 2, 1);
    SegmentNode n = t.seg(t.root(), 1);
    SegmentNode l2 = t.leaf(n, 1, 0);
    SegmentNode l3 = t.leaf(n, 3, 1);
    BatchAdvantages r = SPO.estimate(Trees.batch(t));
    assertThat(of(r, l1).segmentAdvantages()).containsExactly(new double[] {1.0 / 3}, EXACT);
    assertThat(of(r, l2).segmentAdvantages()).containsExactly(new double[] {-1.0 / 6, -0.5}, EXACT);
    assertThat(of(r, l3).segmentAdvantages()).containsExactly(new double[] {-1.0 / 6, 0.5}, EXACT);
  }

  @Test
  void chainGivesItsFirstNodeTheCredit() {
    // root -> c -> d -> {A=1, B=0}; root -> E=0. V(root) 1/3, V(c) = V(d) = .5.
    // c: .5 - 1/3 = 1/6; d: 0; A +.5, B -.5; E: -1/3.
    Trees t = new Trees(0);
    SegmentNode c = t.seg(t.root(), 1);
    SegmentNode d = t.seg(c, 1);
    SegmentNode a = t.leaf(d, 1, 1);
    SegmentNode b = t.leaf(d, 1, 0);
    SegmentNode e = t.leaf(t.root(), 1, 0);
    BatchAdvantages r = SPO.estimate(Trees.batch(t));
    assertThat(of(r, a).segmentAdvantages()).containsExactly(new double[] {1.0 / 6, 0, 0.5}, EXACT);
    assertThat(of(r, b).segmentAdvantages()).containsExactly(new double[] {1.0 / 6, 0, -0.5}, EXACT);
    assertThat(of(r, e).segmentAdvantages()).containsExactly(new double[] {-1.0 / 3}, EXACT);
  }

  @Test
  void equalRewardsGiveZero() {
    // every node's value is .4: every difference 0.
    Trees t = new Trees(0);
    SegmentNode n = t.seg(t.root(), 2);
    SegmentNode a = t.leaf(n, 1, 0.4);
    SegmentNode b = t.leaf(t.seg(n, 1), 1, 0.4);
    SegmentNode c = t.leaf(t.root(), 1, 0.4);
    BatchAdvantages r = SPO.estimate(Trees.batch(t));
    assertThat(of(r, a).segmentAdvantages()).containsExactly(new double[] {0, 0}, EXACT);
    assertThat(of(r, b).segmentAdvantages()).containsExactly(new double[] {0, 0, 0}, EXACT);
    assertThat(of(r, c).segmentAdvantages()).containsExactly(new double[] {0}, EXACT);
  }

  @Test
  void singleLeafHasZeroAdvantage() {
    // V(root) = V(n) = V(leaf) = .9.
    Trees t = new Trees(0);
    SegmentNode l = t.leaf(t.seg(t.root(), 2), 2, 0.9);
    BatchAdvantages r = SPO.estimate(Trees.batch(t));
    assertThat(of(r, l).segmentAdvantages()).containsExactly(new double[] {0, 0}, EXACT);
  }
}
