package org.treeroll.advantage;

import java.util.ArrayList;
import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * TreePO's tree advantage. For leaf i and each ancestor on its path (the root included, the leaf
 * itself not), {@code a_j = R_i - mean(rewards of the leaves under that ancestor)}; the root term
 * always counts, a deeper one only when at least two rewarded leaves lie under it.
 * {@code A_i} is the mean of the counted terms ({@link Weighting#MEAN}, the paper's choice) or
 * their mean weighted by subgroup size ({@link Weighting#SIZE}). Then, optionally, the whole
 * batch is whitened over its valid tokens: a long answer weighs as many tokens as it has.
 *
 * <p>{@link Groups#DEPTH} takes one subgroup per ancestor depth, as the paper defines it, so a
 * chain of single-child nodes repeats the same subgroup once per node. {@link Groups#BRANCH}
 * takes only ancestors with two or more children (and the root), so each distinct subgroup
 * counts once: meant for trees cut at arbitrary tokens, where depth means nothing.
 */
public final class TreePoEstimator implements AdvantageEstimator {
  /** How the subgroup terms are averaged. */
  public enum Weighting { MEAN, SIZE }

  /** Which ancestors give subgroups. */
  public enum Groups { DEPTH, BRANCH }

  private final boolean whiten;
  private final Weighting weighting;
  private final Groups groups;

  public TreePoEstimator(boolean whiten, Weighting weighting, Groups groups) {
    if (weighting == null || groups == null) {
      throw new TreeRollException("advantage estimator 'treepo': weighting and groups must be given");
    }
    this.whiten = whiten;
    this.weighting = weighting;
    this.groups = groups;
  }

  @Override
  public String name() {
    return "treepo:groups=" + groups.name().toLowerCase(java.util.Locale.ROOT) + ",weighting="
        + weighting.name().toLowerCase(java.util.Locale.ROOT) + ",whiten=" + whiten;
  }

  @Override
  public BatchAdvantages estimate(List<RolloutTree> trees) {
    BatchAdvantages raw = Batch.estimate(name(), trees, rewards -> leaf -> Batch.constant(leaf, advantage(rewards, leaf)));
    return whiten ? whitened(raw) : raw;
  }

  private double advantage(SubtreeRewards rewards, SegmentNode leaf) {
    double num = 0;
    double den = 0;
    for (SegmentNode a = leaf.parent(); a != null; a = a.parent()) {
      boolean root = a.isRootNode();
      int size = rewards.count(a);
      if (!root && (size < 2 || (groups == Groups.BRANCH && a.children().size() < 2))) {
        continue;
      }
      double w = weighting == Weighting.SIZE ? size : 1;
      num += w * (leaf.reward() - rewards.mean(a));
      den += w;
    }
    return num / den; // den >= 1: the root always counts and holds this leaf
  }

  /**
   * Subtracts the token-weighted mean and divides by the token-weighted population std, over the
   * valid tokens of the batch. When every valid token has the same advantage the std is 0 and
   * only the mean is subtracted (all become 0) rather than dividing by 0.
   */
  private static BatchAdvantages whitened(BatchAdvantages raw) {
    double tokens = 0;
    double sum = 0;
    for (PathAdvantage p : raw.paths()) {
      if (p.included()) {
        tokens += p.responseLength();
        sum += p.responseLength() * p.segmentAdvantages()[0];
      }
    }
    if (tokens == 0) {
      return raw;
    }
    double mean = sum / tokens;
    double ss = 0;
    for (PathAdvantage p : raw.paths()) {
      if (p.included()) {
        double d = p.segmentAdvantages()[0] - mean;
        ss += p.responseLength() * d * d;
      }
    }
    double std = Math.sqrt(ss / tokens);
    // Equal advantages still leave rounding noise in the std; dividing by it would blow noise up.
    if (std < 1e-12) {
      std = 0;
    }
    List<PathAdvantage> out = new ArrayList<>(raw.paths().size());
    for (PathAdvantage p : raw.paths()) {
      if (!p.included()) {
        out.add(p);
        continue;
      }
      double a = p.segmentAdvantages()[0] - mean;
      out.add(PathAdvantage.of(p.tree(), p.leaf(), Batch.constant(p.leaf(), std > 0 ? a / std : a)));
    }
    return new BatchAdvantages(raw.estimator(), out, raw.unscored(), raw.failed());
  }
}
