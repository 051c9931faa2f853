package org.treeroll.branching;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * Forks only at chosen depths: a node ending segment {@code d} gets {@code factor} children when
 * {@code d} is in the schedule (while the budget lasts, first nodes first), one otherwise. Late
 * forks share long prefixes: with one path doubling at the last four of eight segments, a tree
 * of 16 answers decodes 34 segments instead of 128.
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
    int[] out = new int[live.size()];
    Arrays.fill(out, 1);
    int spare = budget - live.size();
    for (int i = 0; i < out.length && spare > 0; i++) {
      int depth = live.get(i).depth();
      if (Arrays.stream(forkDepths).anyMatch(d -> d == depth)) {
        int extra = Math.min(factor - 1, spare);
        out[i] += extra;
        spare -= extra;
      }
    }
    return out;
  }
}
