package org.treeroll.branching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
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
  void evenSplitSpendsTheWholeBudgetFirstNodesFirst() {
    List<SegmentNode> live = nodes(3, 1);
    assertThat(new EvenSplitPolicy().allocate(live, 7, rng)).containsExactly(3, 2, 2);
    assertThat(new EvenSplitPolicy().allocate(live, 3, rng)).containsExactly(1, 1, 1);
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
  void configRefusesBadValuesByName() {
    assertThatThrownBy(() -> new TreeRolloutConfig(0, 4, 2, 8, 2, 32)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("segment_length");
    assertThatThrownBy(() -> new TreeRolloutConfig(8, 4, 9, 8, 2, 32)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("initial_divergence");
    TreeRolloutConfig ind = TreeRolloutConfig.independent(4, 10);
    assertThat(ind.initialDivergence()).isEqualTo(4);
    assertThat(ind.maxDepth()).isEqualTo(1);
  }

  /** {@code n} sibling nodes at {@code depth}. */
  private static List<SegmentNode> nodes(int n, int depth) {
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "even");
    SegmentNode parent = t.root();
    for (int d = 1; d < depth; d++) {
      parent = t.addChild(parent, d);
    }
    SegmentNode p = parent;
    return java.util.stream.IntStream.range(0, n).mapToObj(i -> t.addChild(p, i)).toList();
  }
}
