package org.treeroll.advantage;

import java.util.ArrayList;
import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/** The loop every estimator shares: validate the batch, skip unrewarded leaves, count them. */
final class Batch {
  /** Segment advantages of one rewarded leaf of the tree a rule was made for. */
  @FunctionalInterface
  interface LeafRule {
    double[] segmentAdvantages(SegmentNode leaf);
  }

  /** Makes the rule for one tree, e.g. after computing its node values. */
  @FunctionalInterface
  interface TreeRule {
    LeafRule forTree(SubtreeRewards rewards);
  }

  private Batch() {}

  static BatchAdvantages estimate(String estimator, List<RolloutTree> trees, TreeRule rule) {
    if (trees == null) {
      throw new TreeRollException("advantage estimator '" + estimator + "': trees is null");
    }
    List<PathAdvantage> paths = new ArrayList<>();
    int unscored = 0;
    int failed = 0;
    for (int i = 0; i < trees.size(); i++) {
      RolloutTree tree = trees.get(i);
      if (tree == null) {
        throw new TreeRollException("advantage estimator '" + estimator + "': trees[" + i + "] is null");
      }
      SubtreeRewards rewards = SubtreeRewards.of(tree);
      LeafRule leafRule = rule.forTree(rewards);
      for (SegmentNode leaf : rewards.leaves()) {
        if (leaf.hasReward()) {
          paths.add(PathAdvantage.of(tree, leaf, leafRule.segmentAdvantages(leaf)));
        } else {
          paths.add(PathAdvantage.excluded(tree, leaf));
          if (leaf.rewardError() != null) {
            failed++;
          } else {
            unscored++;
          }
        }
      }
    }
    return new BatchAdvantages(estimator, paths, unscored, failed);
  }

  /** The same value for every segment of the leaf's path. */
  static double[] constant(SegmentNode leaf, double value) {
    double[] s = new double[leaf.depth()];
    java.util.Arrays.fill(s, value);
    return s;
  }
}
