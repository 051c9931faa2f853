package org.treeroll.advantage;

import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * SPO-tree: a node's value is the mean reward of the rewarded leaves below it (Monte Carlo), and
 * a segment's advantage is {@code V(node) - V(parent)}, applied to that node's tokens. The root's
 * value is the mean over all answers of the prompt. A node with a single child passes its whole
 * value on, so the child's segment gets 0: only decisions that split the answers get credit.
 */
public final class SpoEstimator implements AdvantageEstimator {
  @Override
  public String name() {
    return "spo";
  }

  @Override
  public BatchAdvantages estimate(List<RolloutTree> trees) {
    return Batch.estimate(name(), trees, rewards -> leaf -> {
      List<SegmentNode> path = RolloutTree.path(leaf);
      double[] seg = new double[path.size() - 1];
      for (int s = 1; s < path.size(); s++) {
        seg[s - 1] = rewards.mean(path.get(s)) - rewards.mean(path.get(s - 1));
      }
      return seg;
    });
  }
}
