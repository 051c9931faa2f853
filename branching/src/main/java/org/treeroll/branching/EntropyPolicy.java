package org.treeroll.branching;

import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.treeroll.tree.SegmentNode;

/**
 * Forks where the model was least sure: live nodes ranked by the entropy of their last segment
 * (the mean over its tokens, or the max), the most uncertain first, each getting {@code factor}
 * children while the budget lasts; with a threshold only nodes at or above it fork.
 */
public final class EntropyPolicy implements BranchingPolicy {
  /** How a segment's per-token entropies become one score. */
  public enum Reduce { MEAN, MAX }

  private final Reduce reduce;
  private final double threshold;
  private final int factor;

  /** @param threshold minimum segment entropy (nats) to fork; negative infinity for none */
  public EntropyPolicy(Reduce reduce, double threshold, int factor) {
    this.reduce = reduce;
    this.threshold = threshold;
    this.factor = factor;
  }

  @Override
  public String name() {
    return "entropy";
  }

  /** The segment's entropy score (0 for an empty segment). */
  public double score(SegmentNode n) {
    float[] e = n.entropies();
    if (e.length == 0) {
      return 0;
    }
    double acc = reduce == Reduce.MAX ? Double.NEGATIVE_INFINITY : 0;
    for (float v : e) {
      acc = reduce == Reduce.MAX ? Math.max(acc, v) : acc + v;
    }
    return reduce == Reduce.MAX ? acc : acc / e.length;
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    double[] s = live.stream().mapToDouble(this::score).toArray();
    int[] forkers = IntStream.range(0, live.size())
        .filter(i -> s[i] >= threshold)
        .boxed()
        .sorted(Comparator.comparingDouble((Integer i) -> -s[i]).thenComparingInt(i -> i))
        .mapToInt(Integer::intValue)
        .toArray();
    return Allocation.extrasInOrder(live.size(), forkers, budget, factor);
  }
}
