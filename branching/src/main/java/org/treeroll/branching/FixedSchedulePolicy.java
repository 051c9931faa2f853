package org.treeroll.branching;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * Forks only at chosen depths: a node ending segment {@code d} gets {@code factor} children when
 * {@code d} is in the schedule (while the budget lasts, first nodes first), one otherwise. Late
 * forks share long prefixes: with one path doubling at the last four of eight segments, a tree
 * of 16 answers decodes 34 segments instead of 128. This is also SPO-tree's fixed shape.
 */
public final class FixedSchedulePolicy implements BranchingPolicy {
  private final int[] forkDepths;
  private final int factor;

  public FixedSchedulePolicy(int factor, int... forkDepths) {
    if (factor < 1) {
      throw new TreeRollException("branching factor must be >= 1, got " + factor);
    }
    for (int d : forkDepths) {
      if (d < 1) {
        throw new TreeRollException("fork depths must be >= 1 (the end of the first segment), got " + d);
      }
    }
    this.factor = factor;
    this.forkDepths = forkDepths.clone();
  }

  @Override
  public String name() {
    return "fixed";
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    int[] forkers = IntStream.range(0, live.size())
        .filter(i -> Arrays.stream(forkDepths).anyMatch(d -> d == live.get(i).depth()))
        .toArray();
    return Allocation.extrasInOrder(live.size(), forkers, budget, factor);
  }
}
