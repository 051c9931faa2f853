package org.treeroll.branching;

import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * Decides where a rollout tree forks. Two moments: at every segment boundary the scheduler knows
 * how many children the tree may grow next (its leaf budget, see {@link TreeRolloutConfig}) and
 * the policy spends it on the live nodes ({@link #allocate}); when a tree has no live branch left
 * but fewer answers than its budget, the policy names where new answers start ({@link #refill}),
 * anywhere on the paths sampled so far. Policies that grow trees in rounds (ROSE) fork only there.
 */
public interface BranchingPolicy {
  /** The name the rollout config selects this policy by. */
  String name();

  /**
   * Children for each live node, in the order given: each at least 1 (a node that is still live
   * continues), summing to at most {@code budget} ({@code budget >= live.size()}).
   */
  int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng);

  /**
   * Where up to {@code missing} new answers start in a tree whose branches have all ended; empty
   * to stop growing it. The default is TreePO's depth-first fallback.
   */
  default List<ForkPoint> refill(RolloutTree tree, int missing, BranchingContext context, SplittableRandom rng) {
    return DepthFirstFallback.forks(tree, missing, context.branchingFactor(), rng);
  }

  /** Top-k candidates the engine must record per sampled token for this policy (0: none). */
  default int candidatesPerToken() {
    return 0;
  }
}
