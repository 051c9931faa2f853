package org.treeroll.advantage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.treeroll.advantage.Trees.of;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

class AdvantageEstimatorsTest {
  @ParameterizedTest
  @ValueSource(strings = {"grpo", "grpo:std=false", "treepo", "treepo:weighting=size,groups=branch", "spo", "rose", "rose:lambda=1"})
  void leavesWithoutRewardJoinNoBaseline(String spec) {
    // The same two scored answers, once alone and once beside a failed and an unscored one:
    // their advantages must not change, and the other two get mask 0 and advantage 0.
    Trees alone = new Trees(0);
    SegmentNode n0 = alone.seg(alone.root(), 2);
    SegmentNode a0 = alone.leaf(n0, 2, 1);
    SegmentNode b0 = alone.leaf(n0, 3, 0);
    alone.leaf(alone.root(), 1, 0.5);

    Trees mixed = new Trees(0);
    SegmentNode n1 = mixed.seg(mixed.root(), 2);
    SegmentNode a1 = mixed.leaf(n1, 2, 1);
    SegmentNode b1 = mixed.leaf(n1, 3, 0);
    mixed.leaf(mixed.root(), 1, 0.5);
    SegmentNode failed = mixed.seg(n1, 4);
    failed.setRewardError("judge timed out");
    SegmentNode unscored = mixed.seg(mixed.root(), 2);

    AdvantageEstimator e = AdvantageEstimators.create(spec);
    BatchAdvantages ra = e.estimate(Trees.batch(alone));
    BatchAdvantages rm = e.estimate(Trees.batch(mixed));
    // n1 has three children in the mixed tree, so ROSE and TreePO-branch see a branch point
    // either way; the values match because the unrewarded leaves count nowhere.
    assertThat(of(rm, a1).segmentAdvantages()).containsExactly(of(ra, a0).segmentAdvantages());
    assertThat(of(rm, b1).segmentAdvantages()).containsExactly(of(ra, b0).segmentAdvantages());
    assertThat(rm.failed()).isEqualTo(1);
    assertThat(rm.unscored()).isEqualTo(1);
    assertThat(rm.skipped()).isEqualTo(2);
    assertThat(rm.included()).isEqualTo(3);
    for (SegmentNode l : new SegmentNode[] {failed, unscored}) {
      PathAdvantage p = of(rm, l);
      assertThat(p.included()).isFalse();
      assertThat(p.responseMask()).hasSize(p.responseLength()).containsOnly((byte) 0);
      assertThat(p.tokenAdvantages()).containsOnly(0f);
      assertThat(p.segmentAdvantages()).hasSize(l.depth()).containsOnly(0.0);
    }
  }

  @Test
  void unknownNameListsTheValidOnes() {
    assertThatThrownBy(() -> AdvantageEstimators.create("ppo"))
        .isInstanceOf(TreeRollException.class)
        .hasMessageContaining("'ppo'").hasMessageContaining("grpo, rose, spo, treepo");
  }

  @Test
  void unknownParameterListsTheValidOnes() {
    assertThatThrownBy(() -> AdvantageEstimators.create("treepo:alpha=1"))
        .isInstanceOf(TreeRollException.class)
        .hasMessageContaining("alpha").hasMessageContaining("groups, weighting, whiten");
  }

  @Test
  void badValuesNameTheParameter() {
    assertThatThrownBy(() -> AdvantageEstimators.create("treepo:weighting=median"))
        .isInstanceOf(TreeRollException.class)
        .hasMessageContaining("'weighting'").hasMessageContaining("mean or size").hasMessageContaining("median");
    assertThatThrownBy(() -> AdvantageEstimators.create("rose:lambda=-1"))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("'lambda'").hasMessageContaining(">= 0");
    assertThatThrownBy(() -> AdvantageEstimators.create("grpo:eps=-0.1"))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("'eps'");
    assertThatThrownBy(() -> AdvantageEstimators.create("grpo:std=maybe"))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("'std'").hasMessageContaining("true or false");
  }

  @Test
  void namesAreRoundTrippableSpecs() {
    for (String spec : new String[] {"grpo:std=false,eps=0.01", "treepo:weighting=size", "spo", "rose:lambda=0.5"}) {
      AdvantageEstimator e = AdvantageEstimators.create(spec);
      assertThat(AdvantageEstimators.create(e.name()).name()).isEqualTo(e.name());
    }
    assertThat(AdvantageEstimators.create("rose:lambda=0.5").name()).isEqualTo("rose:correct=1.0,lambda=0.5");
  }

  @Test
  void infiniteRewardIsRefused() {
    Trees t = new Trees(3);
    SegmentNode l = t.leaf(t.root(), 1, Double.POSITIVE_INFINITY);
    assertThatThrownBy(() -> AdvantageEstimators.create("spo").estimate(Trees.batch(t)))
        .isInstanceOf(TreeRollException.class)
        .hasMessageContaining("tree 3").hasMessageContaining("leaf " + l.id()).hasMessageContaining("reward");
  }

  @Test
  void nullTreesAreRefused() {
    assertThatThrownBy(() -> AdvantageEstimators.create("grpo").estimate(null))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("trees");
    assertThatThrownBy(() -> AdvantageEstimators.create("grpo").estimate(java.util.Arrays.asList(new Trees(0).tree(), null)))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("trees[1]");
  }

  @Test
  void segmentEndsAreResponseOffsets() {
    Trees t = new Trees(0);
    SegmentNode l = t.leaf(t.seg(t.seg(t.root(), 2), 3), 4, 1);
    PathAdvantage p = of(AdvantageEstimators.create("spo").estimate(Trees.batch(t)), l);
    assertThat(p.segmentEnds()).containsExactly(2, 5, 9);
    assertThat(p.responseLength()).isEqualTo(9);
  }
}
