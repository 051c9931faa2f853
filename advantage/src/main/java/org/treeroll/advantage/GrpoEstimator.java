package org.treeroll.advantage;

import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * GRPO: every answer of a prompt is compared with the mean of the prompt's answers,
 * {@code A = (R - mean) / (std + eps)} with the sample standard deviation (n - 1), the same value
 * on every token. Dr.GRPO ({@code std=false}) keeps only {@code R - mean}, because dividing by
 * the std over-weights prompts whose answers barely differ. The tree's shape is ignored.
 */
public final class GrpoEstimator implements AdvantageEstimator {
  private final boolean divideByStd;
  private final double eps;

  /** @param eps added to the std before dividing; >= 0 */
  public GrpoEstimator(boolean divideByStd, double eps) {
    if (!(eps >= 0)) {
      throw new TreeRollException("advantage estimator 'grpo': parameter 'eps' must be >= 0, got " + eps);
    }
    this.divideByStd = divideByStd;
    this.eps = eps;
  }

  @Override
  public String name() {
    return "grpo:eps=" + eps + ",std=" + divideByStd;
  }

  @Override
  public BatchAdvantages estimate(List<RolloutTree> trees) {
    return Batch.estimate(name(), trees, rewards -> {
      List<SegmentNode> scored = rewards.leaves().stream().filter(SegmentNode::hasReward).toList();
      double mean = rewards.mean(rewards.tree().root());
      double ss = 0;
      for (SegmentNode l : scored) {
        ss += (l.reward() - mean) * (l.reward() - mean);
      }
      // One answer has no spread: its std counts as 0 (and its advantage is 0 anyway).
      double std = scored.size() > 1 ? Math.sqrt(ss / (scored.size() - 1)) : 0;
      return leaf -> Batch.constant(leaf, scale(leaf.reward() - mean, std));
    });
  }

  private double scale(double centered, double std) {
    if (!divideByStd || centered == 0) {
      return centered; // also keeps 0 / 0 out when every reward is equal and eps is 0
    }
    return centered / (std + eps);
  }
}
