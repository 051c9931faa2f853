package org.treeroll.branching;

import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.treeroll.tree.SegmentNode;

/**
 * The control: live nodes fork in a uniformly random order, {@code factor} children each while
 * the budget lasts. Any policy that cannot beat this is not choosing well.
 */
public final class RandomPolicy implements BranchingPolicy {
  private final int factor;

  public RandomPolicy(int factor) {
    this.factor = factor;
  }

  @Override
  public String name() {
    return "random";
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    int[] order = IntStream.range(0, live.size()).toArray();
    for (int i = order.length - 1; i > 0; i--) { // Fisher-Yates
      int j = rng.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return Allocation.extrasInOrder(live.size(), order, budget, factor);
  }
}
