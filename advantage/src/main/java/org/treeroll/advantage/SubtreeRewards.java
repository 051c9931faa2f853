package org.treeroll.advantage;

import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * The rewarded leaves below every node of one tree: their count and reward sum, so any subtree's
 * mean reward is one lookup. Leaves without a reward are counted nowhere.
 */
final class SubtreeRewards {
  private final RolloutTree tree;
  private final int[] count;
  private final double[] sum;
  private final List<SegmentNode> leaves;

  private SubtreeRewards(RolloutTree tree) {
    this.tree = tree;
    // Ids are unique and below the node count, also after splits (see RolloutTree.splitAt).
    int n = tree.nodes().size();
    this.count = new int[n];
    this.sum = new double[n];
    this.leaves = tree.leaves();
    for (SegmentNode leaf : leaves) {
      if (!leaf.hasReward()) {
        continue;
      }
      if (Double.isInfinite(leaf.reward())) {
        throw new TreeRollException("tree " + tree.id() + ", leaf " + leaf.id() + ": reward is " + leaf.reward()
            + "; rewards must be finite");
      }
      // Walking up from each leaf costs leaves x depth: small, and no recursion on deep chains.
      for (SegmentNode a = leaf; a != null; a = a.parent()) {
        count[a.id()]++;
        sum[a.id()] += leaf.reward();
      }
    }
  }

  static SubtreeRewards of(RolloutTree tree) {
    return new SubtreeRewards(tree);
  }

  RolloutTree tree() {
    return tree;
  }

  /** Every leaf of the tree, rewarded or not, in tree order. */
  List<SegmentNode> leaves() {
    return leaves;
  }

  /** Rewarded leaves at or below {@code node}. */
  int count(SegmentNode node) {
    return count[node.id()];
  }

  /** Mean reward of the rewarded leaves at or below {@code node}; NaN when there are none. */
  double mean(SegmentNode node) {
    int c = count[node.id()];
    return c == 0 ? Double.NaN : sum[node.id()] / c;
  }
}
