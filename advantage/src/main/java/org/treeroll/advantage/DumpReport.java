package org.treeroll.advantage;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * What a set of rollout trees (e.g. read from dumps) looks like: its shape, why answers ended,
 * how rewards vary with depth, how many tokens sharing prefixes saved, and optionally the
 * advantages another estimator would give.
 *
 * @param trees number of trees (prompts)
 * @param leaves number of leaves (answers)
 * @param byDepth per leaf depth present, ascending: leaves and their mean reward
 * @param byPolicy per branching policy name, alphabetical: trees and branch points
 * @param byFinishReason per finish reason, in {@link FinishReason} order, then the leaves that
 *     did not finish (reason null); reasons with no leaf are listed with 0
 * @param rewards how many leaves are scored, failed or unscored, and the mean reward
 * @param tokens distinct (decoded) vs independent-sampling tokens
 * @param advantages summary of recomputed advantages, or null when no estimator was given
 * @param forksByDepth per depth of a branch point (0 = the prompt), ascending: where answers forked
 * @param weightVersions the weight versions the trees were sampled under, ascending
 */
public record DumpReport(int trees, int leaves, List<DepthRow> byDepth, List<PolicyRow> byPolicy,
    List<ReasonRow> byFinishReason, RewardSummary rewards, TokenSummary tokens, AdvantageSummary advantages,
    List<ForkRow> forksByDepth, List<Long> weightVersions) {

  /** Branch points (nodes with two or more children) whose node sits at {@code depth}. */
  public record ForkRow(int depth, int branchPoints) {}

  /** Mean depth of the leaves (segments per answer), 0 without leaves. */
  public double meanLeafDepth() {
    return leaves == 0 ? 0 : byDepth.stream().mapToDouble(d -> (double) d.depth() * d.leaves()).sum() / leaves;
  }

  /** Branch points over all trees. */
  public int branchPoints() {
    return byPolicy.stream().mapToInt(PolicyRow::branchPoints).sum();
  }

  /** Leaves at one depth (segments from the root). @param meanReward null when none is scored */
  public record DepthRow(int depth, int leaves, int scored, Double meanReward) {}

  /** Trees grown by one branching policy and their branch points (nodes with two or more children). */
  public record PolicyRow(String policy, int trees, int branchPoints) {
    public double branchPointsPerTree() {
      return trees == 0 ? 0 : (double) branchPoints / trees;
    }
  }

  /** @param reason null for leaves that did not finish (still growing when dumped) */
  public record ReasonRow(FinishReason reason, int leaves) {}

  /** @param mean mean over scored leaves, null when none is scored */
  public record RewardSummary(int scored, int failed, int unscored, Double mean) {}

  /**
   * @param distinct tokens of all nodes, prompts included: what tree decoding computed
   * @param independent what sampling the same answers independently would compute
   */
  public record TokenSummary(long distinct, long independent) {
    /** distinct / independent: the share of independent sampling's tokens the tree decoded (< 1 is a saving). */
    public double ratio() {
      return independent == 0 ? 0 : (double) distinct / independent;
    }
  }

  /**
   * Token-level advantages over the valid tokens of the batch (mask 1).
   *
   * @param mean null (like std, min, max) when there is no valid token
   * @param positive share of valid tokens with an advantage > 0
   */
  public record AdvantageSummary(String estimator, int paths, int included, int skipped, long tokens,
      Double mean, Double std, Double min, Double max, double positive) {}

  public static DumpReport of(List<RolloutTree> trees, AdvantageEstimator estimator) {
    if (trees == null) {
      throw new TreeRollException("dump report: trees is null");
    }
    TreeMap<Integer, int[]> depthCounts = new TreeMap<>(); // depth -> {leaves, scored}
    TreeMap<Integer, Double> depthSums = new TreeMap<>();
    TreeMap<String, int[]> policies = new TreeMap<>(); // policy -> {trees, branch points}
    TreeMap<Integer, Integer> forks = new TreeMap<>(); // depth -> branch points
    TreeSet<Long> versions = new TreeSet<>();
    int[] reasons = new int[FinishReason.values().length];
    int unfinished = 0;
    int leaves = 0;
    int scored = 0;
    int failed = 0;
    double rewardSum = 0;
    long distinct = 0;
    long independent = 0;
    for (RolloutTree t : trees) {
      int[] p = policies.computeIfAbsent(t.policy() == null ? "unknown" : t.policy(), k -> new int[2]);
      p[0]++;
      versions.add(t.weightVersion());
      for (SegmentNode n : t.nodes()) {
        if (n.children().size() >= 2) {
          p[1]++;
          forks.merge(n.depth(), 1, Integer::sum);
        }
      }
      for (SegmentNode l : t.leaves()) {
        leaves++;
        int[] d = depthCounts.computeIfAbsent(l.depth(), k -> new int[2]);
        d[0]++;
        if (l.finishReason() == null) {
          unfinished++;
        } else {
          reasons[l.finishReason().ordinal()]++;
        }
        if (l.hasReward()) {
          scored++;
          d[1]++;
          rewardSum += l.reward();
          depthSums.merge(l.depth(), l.reward(), Double::sum);
        } else if (l.rewardError() != null) {
          failed++;
        }
      }
      distinct += t.distinctTokens();
      independent += t.independentTokens();
    }
    List<DepthRow> byDepth = new ArrayList<>();
    depthCounts.forEach((depth, c) -> byDepth.add(new DepthRow(depth, c[0], c[1],
        c[1] == 0 ? null : depthSums.get(depth) / c[1])));
    List<PolicyRow> byPolicy = new ArrayList<>();
    policies.forEach((name, c) -> byPolicy.add(new PolicyRow(name, c[0], c[1])));
    List<ReasonRow> byReason = new ArrayList<>();
    for (FinishReason r : FinishReason.values()) {
      byReason.add(new ReasonRow(r, reasons[r.ordinal()]));
    }
    byReason.add(new ReasonRow(null, unfinished));
    RewardSummary rewards = new RewardSummary(scored, failed, leaves - scored - failed,
        scored == 0 ? null : rewardSum / scored);
    AdvantageSummary adv = estimator == null ? null : summarize(estimator.estimate(trees));
    List<ForkRow> forksByDepth = new ArrayList<>();
    forks.forEach((depth, n) -> forksByDepth.add(new ForkRow(depth, n)));
    return new DumpReport(trees.size(), leaves, byDepth, byPolicy, byReason, rewards,
        new TokenSummary(distinct, independent), adv, forksByDepth, List.copyOf(versions));
  }

  static AdvantageSummary summarize(BatchAdvantages b) {
    long n = 0;
    long positive = 0;
    double sum = 0;
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (PathAdvantage p : b.paths()) {
      for (int i = 0; i < p.responseLength(); i++) {
        if (p.responseMask()[i] == 0) {
          continue;
        }
        double a = p.tokenAdvantages()[i];
        n++;
        sum += a;
        min = Math.min(min, a);
        max = Math.max(max, a);
        if (a > 0) {
          positive++;
        }
      }
    }
    if (n == 0) {
      return new AdvantageSummary(b.estimator(), b.paths().size(), b.included(), b.skipped(), 0, null, null, null, null, 0);
    }
    double mean = sum / n;
    double ss = 0;
    for (PathAdvantage p : b.paths()) {
      for (int i = 0; i < p.responseLength(); i++) {
        if (p.responseMask()[i] != 0) {
          double d = p.tokenAdvantages()[i] - mean;
          ss += d * d;
        }
      }
    }
    return new AdvantageSummary(b.estimator(), b.paths().size(), b.included(), b.skipped(), n, mean,
        Math.sqrt(ss / n), min, max, (double) positive / n);
  }
}
