package org.treeroll.advantage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.treeroll.advantage.Trees.of;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.SegmentNode;

class GrpoEstimatorTest {
  private static final org.assertj.core.data.Offset<Double> EXACT = within(1e-9);

  @Test
  void workedExampleOfAlgorithmsMd() {
    // root -> c1 -> {A=1, B=0}, root -> c2 -> {C=1, D=1}. mean 0.75; deviations .25 -.75 .25 .25;
    // sample var = (3 * .0625 + .5625) / 3 = .25, std .5: A .5, B -1.5, C .5, D .5.
    Trees t = new Trees(0);
    SegmentNode c1 = t.seg(t.root(), 2);
    SegmentNode c2 = t.seg(t.root(), 2);
    SegmentNode a = t.leaf(c1, 3, 1);
    SegmentNode b = t.leaf(c1, 3, 0);
    SegmentNode c = t.leaf(c2, 3, 1);
    SegmentNode d = t.leaf(c2, 3, 1);
    BatchAdvantages r = new GrpoEstimator(true, 0).estimate(Trees.batch(t));
    assertThat(of(r, a).segmentAdvantages()).containsExactly(new double[] {0.5, 0.5}, EXACT);
    assertThat(of(r, b).segmentAdvantages()).containsExactly(new double[] {-1.5, -1.5}, EXACT);
    assertThat(of(r, c).segmentAdvantages()[1]).isCloseTo(0.5, EXACT);
    assertThat(of(r, d).segmentAdvantages()[1]).isCloseTo(0.5, EXACT);
    assertThat(of(r, b).tokenAdvantages()).hasSize(5).containsOnly(-1.5f);
    assertThat(of(r, b).responseMask()).containsOnly((byte) 1);
    assertThat(r.skipped()).isZero();

    // The default eps 1e-6 is added to the std: A = .25 / (.5 + 1e-6).
    BatchAdvantages withEps = AdvantageEstimators.create("grpo").estimate(Trees.batch(t));
    assertThat(of(withEps, a).segmentAdvantages()[0]).isCloseTo(0.25 / 0.500001, EXACT);

    // Dr.GRPO: no std, A = R - mean.
    BatchAdvantages dr = AdvantageEstimators.create("grpo:std=false").estimate(Trees.batch(t));
    assertThat(of(dr, a).segmentAdvantages()[0]).isCloseTo(0.25, EXACT);
    assertThat(of(dr, b).segmentAdvantages()[0]).isCloseTo(-0.75, EXACT);
  }

  @Test
  void unbalancedTreeIgnoresTheShape() {
    // root -> {L1=1, n -> {L2=0, n2 -> {L3=.5, L4=0}}}. mean 1.5/4 = .375; deviations
    // .625 -.375 .125 -.375; squares sum .390625+.140625+.015625+.140625 = .6875;
    // std = sqrt(.6875/3) = .47871355387816905: L1 1.3055824196677337, L2 and L4
    // -0.7833494518006403, L3 0.26111648393354675.
    Trees t = new Trees(0);
    SegmentNode l1 = t.leaf(t.root(), 1, 1);
    SegmentNode n = t.seg(t.root(), 2);
    SegmentNode l2 = t.leaf(n, 1, 0);
    SegmentNode n2 = t.seg(n, 1);
    SegmentNode l3 = t.leaf(n2, 1, 0.5);
    SegmentNode l4 = t.leaf(n2, 4, 0);
    BatchAdvantages r = new GrpoEstimator(true, 0).estimate(Trees.batch(t));
    assertThat(of(r, l1).segmentAdvantages()).containsExactly(new double[] {1.3055824196677337}, EXACT);
    assertThat(of(r, l2).segmentAdvantages()).containsExactly(new double[] {-0.7833494518006403, -0.7833494518006403}, EXACT);
    assertThat(of(r, l3).segmentAdvantages()).containsExactly(new double[] {0.26111648393354675, 0.26111648393354675, 0.26111648393354675}, EXACT);
    assertThat(of(r, l4).tokenAdvantages()).hasSize(7).containsOnly((float) -0.7833494518006403);
  }

  @Test
  void equalRewardsGiveZeroEvenWithoutEps() {
    // rewards 1, 1, 1: every deviation is 0 and the std 0; 0 / (0 + 0) must be 0, not NaN.
    Trees t = new Trees(0);
    SegmentNode n = t.seg(t.root(), 2);
    List<SegmentNode> leaves = List.of(t.leaf(n, 1, 1), t.leaf(n, 2, 1), t.leaf(t.root(), 3, 1));
    BatchAdvantages r = new GrpoEstimator(true, 0).estimate(Trees.batch(t));
    for (SegmentNode l : leaves) {
      assertThat(of(r, l).segmentAdvantages()).containsOnly(0.0);
      assertThat(of(r, l).responseMask()).containsOnly((byte) 1);
    }
  }

  @Test
  void singleLeafHasZeroAdvantage() {
    // one answer: mean = its reward .7, deviation 0.
    Trees t = new Trees(0);
    SegmentNode l = t.leaf(t.root(), 3, 0.7);
    BatchAdvantages r = new GrpoEstimator(true, 0).estimate(Trees.batch(t));
    assertThat(of(r, l).segmentAdvantages()).containsExactly(0.0);
    assertThat(of(r, l).tokenAdvantages()).containsExactly(0f, 0f, 0f);
  }

  @Test
  void eachTreeHasItsOwnBaseline() {
    // tree 0: {1, 0}: mean .5, std sqrt(.5): +-.7071067811865476. tree 1: {0, 0}: 0 and 0.
    Trees t0 = new Trees(0);
    SegmentNode a = t0.leaf(t0.root(), 1, 1);
    SegmentNode b = t0.leaf(t0.root(), 1, 0);
    Trees t1 = new Trees(1);
    SegmentNode c = t1.leaf(t1.root(), 1, 0);
    BatchAdvantages r = new GrpoEstimator(true, 0).estimate(Trees.batch(t0, t1));
    assertThat(of(r, a).segmentAdvantages()[0]).isCloseTo(0.7071067811865476, EXACT);
    assertThat(of(r, b).segmentAdvantages()[0]).isCloseTo(-0.7071067811865476, EXACT);
    assertThat(of(r, c).segmentAdvantages()[0]).isCloseTo(0, EXACT);
    assertThat(r.paths()).extracting(PathAdvantage::leaf).containsExactly(a, b, c);
  }
}
