package org.treeroll.branching;

import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.SegmentNode;

/**
 * TreePO's default: the budget of the next step spread evenly over the live nodes, the remainder
 * going to the first ones. With budget to spare every node forks into the branching factor; the
 * tree's shape then follows a fixed schedule.
 */
public final class EvenSplitPolicy implements BranchingPolicy {
  @Override
  public String name() {
    return "even";
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    int n = live.size();
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = budget / n + (i < budget % n ? 1 : 0);
    }
    return out;
  }
}
