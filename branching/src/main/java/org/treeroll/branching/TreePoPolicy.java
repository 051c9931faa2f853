package org.treeroll.branching;

import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.treeroll.tree.SegmentNode;

/**
 * TreePO's divergence: the whole budget of a boundary spent on the live nodes, split evenly
 * (TreePO's default and best) or by a softmax over each node's mean segment log-prob at
 * temperature T, giving more children to low-probability segments ({@code low}) or to
 * high-probability ones ({@code high}); the paper tried T = 2. When the tree runs dry before its
 * budget, the depth-first fallback refills it.
 */
public final class TreePoPolicy implements BranchingPolicy {
  /** How the budget of a boundary is split over the live nodes. */
  public enum Divergence { EVEN, LOW, HIGH }

  private final Divergence divergence;
  private final double temperature;

  public TreePoPolicy(Divergence divergence, double temperature) {
    if (!(temperature > 0)) {
      throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
    }
    this.divergence = divergence;
    this.temperature = temperature;
  }

  /** The even split: TreePO's default. */
  public static TreePoPolicy even() {
    return new TreePoPolicy(Divergence.EVEN, 1);
  }

  @Override
  public String name() {
    return "treepo";
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    int n = live.size();
    if (divergence == Divergence.EVEN) {
      int[] out = new int[n];
      for (int i = 0; i < n; i++) {
        out[i] = budget / n + (i < budget % n ? 1 : 0);
      }
      return out;
    }
    double sign = divergence == Divergence.LOW ? -1 : 1;
    double[] logits = new double[n];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      double lp = live.get(i).meanLogProb();
      logits[i] = sign * (Double.isNaN(lp) ? 0 : lp) / temperature;
      max = Math.max(max, logits[i]);
    }
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      w[i] = Math.exp(logits[i] - max);
    }
    return Allocation.proportional(w, budget);
  }

  static Divergence divergence(org.treeroll.tree.ComponentSpec spec) {
    String v = spec.string("divergence", "even");
    try {
      return Divergence.valueOf(v.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw spec.bad("divergence", v, "one of even, low, high");
    }
  }
}
