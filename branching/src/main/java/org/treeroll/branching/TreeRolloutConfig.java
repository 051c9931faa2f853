package org.treeroll.branching;

import org.treeroll.tree.TreeRollException;

/**
 * The shape of a tree rollout (TreePO's segment-wise sampling) and the policy that grows it.
 *
 * @param segmentLength tokens decoded per segment (a tree node); TreePO used 512 at 7k-token
 *     answers; default 32
 * @param maxDepth segments per answer at most; default 8
 * @param initialDivergence paths the root splits into before the first segment; default 2
 * @param leafBudget answers (leaves) per prompt, the group size N; default 16
 * @param branchingFactor b: how many children a node may get at one boundary (and a fallback
 *     fork); default 2
 * @param maxTokens response tokens per answer at most; default segmentLength * maxDepth
 * @param policy the branching policy spec, see {@link BranchingPolicies}; default {@code treepo}
 * @param repetition when an answer counts as stuck in a loop; default {@link RepetitionRule#DEFAULT}
 * @param stopOnAnswer end an answer at the segment boundary where it holds a complete final
 *     answer (its outcome is settled); default true
 */
public record TreeRolloutConfig(
    int segmentLength, int maxDepth, int initialDivergence, int leafBudget, int branchingFactor,
    int maxTokens, String policy, RepetitionRule repetition, boolean stopOnAnswer) {

  public TreeRolloutConfig {
    positive("segment_length", segmentLength);
    positive("max_depth", maxDepth);
    positive("initial_divergence", initialDivergence);
    positive("leaf_budget", leafBudget);
    positive("branching_factor", branchingFactor);
    positive("max_tokens", maxTokens);
    if (initialDivergence > leafBudget) {
      throw new TreeRollException("initial_divergence (" + initialDivergence
          + ") must not exceed leaf_budget (" + leafBudget + ")");
    }
    BranchingPolicies.create(policy); // refuse a bad name or parameter now, not mid-rollout
    if (repetition == null) {
      throw new TreeRollException("repetition must be given (RepetitionRule.OFF to disable)");
    }
  }

  /** The shape with the default policy and pruning rules. */
  public TreeRolloutConfig(int segmentLength, int maxDepth, int initialDivergence, int leafBudget,
      int branchingFactor, int maxTokens) {
    this(segmentLength, maxDepth, initialDivergence, leafBudget, branchingFactor, maxTokens, "treepo",
        RepetitionRule.DEFAULT, true);
  }

  public static TreeRolloutConfig defaults() {
    return new TreeRolloutConfig(32, 8, 2, 16, 2, 32 * 8);
  }

  /**
   * Independent sampling in the same engine, the baseline of every comparison: {@code n} answers
   * that share only the prompt (prefilled once, as vLLM's n > 1 does) and never fork.
   */
  public static TreeRolloutConfig independent(int n, int maxTokens) {
    return new TreeRolloutConfig(maxTokens, 1, n, n, 1, maxTokens);
  }

  public TreeRolloutConfig withPolicy(String spec) {
    return new TreeRolloutConfig(segmentLength, maxDepth, initialDivergence, leafBudget, branchingFactor,
        maxTokens, spec, repetition, stopOnAnswer);
  }

  public TreeRolloutConfig withRepetition(RepetitionRule rule) {
    return new TreeRolloutConfig(segmentLength, maxDepth, initialDivergence, leafBudget, branchingFactor,
        maxTokens, policy, rule, stopOnAnswer);
  }

  public TreeRolloutConfig withStopOnAnswer(boolean stop) {
    return new TreeRolloutConfig(segmentLength, maxDepth, initialDivergence, leafBudget, branchingFactor,
        maxTokens, policy, repetition, stop);
  }

  /** A fresh instance of the configured policy. */
  public BranchingPolicy newPolicy() {
    return BranchingPolicies.create(policy);
  }

  /**
   * Children the live nodes of one tree may get at a boundary (TreePO's budget transfer): with
   * {@code live} paths continuing, {@code finishedNow} that ended in this segment and
   * {@code leaves} answers finished so far, {@code min(N - leaves, b * (live + finishedNow))},
   * but at least {@code live}: every live path continues, and the budget of paths that died
   * early goes to the survivors. The policy decides how much of it to spend.
   */
  public int childrenAtBoundary(int live, int finishedNow, int leaves) {
    int budget = Math.min(leafBudget - leaves, branchingFactor * (live + finishedNow));
    return Math.max(live, budget);
  }

  private static void positive(String field, int v) {
    if (v <= 0) {
      throw new TreeRollException(field + " must be > 0, got " + v);
    }
  }
}
