package org.treeroll.advantage;

import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/** Builds small rollout trees by hand for golden tests. */
final class Trees {
  private final RolloutTree tree;
  private int nextToken = 100;

  Trees(int id) {
    tree = new RolloutTree(id, new int[] {1, 2, 3}, 7, 42, "test");
  }

  RolloutTree tree() {
    return tree;
  }

  SegmentNode root() {
    return tree.root();
  }

  /** A segment of {@code tokens} tokens under {@code parent}; distinct ids, log-prob -0.5 each. */
  SegmentNode seg(SegmentNode parent, int tokens) {
    SegmentNode n = tree.addChild(parent, nextToken);
    for (int i = 0; i < tokens; i++) {
      n.append(nextToken++, -0.5f, 1f);
    }
    return n;
  }

  /** A leaf segment with a reward. */
  SegmentNode leaf(SegmentNode parent, int tokens, double reward) {
    SegmentNode n = seg(parent, tokens);
    n.setReward(reward);
    return n;
  }

  /** The path advantage of {@code leaf} in {@code batch}. */
  static PathAdvantage of(BatchAdvantages batch, SegmentNode leaf) {
    return batch.paths().stream().filter(p -> p.leaf() == leaf).findFirst().orElseThrow();
  }

  static List<RolloutTree> batch(Trees... trees) {
    return java.util.Arrays.stream(trees).map(Trees::tree).toList();
  }
}
