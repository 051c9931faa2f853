package org.treeroll.branching;

import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.SegmentNode;

/**
 * Decides where a rollout tree forks. At every segment boundary the scheduler knows how many
 * children the tree may grow next (its leaf budget, see {@link TreeRolloutConfig}); the policy
 * decides how many of them to spend and on which live nodes.
 */
public interface BranchingPolicy {
  /** The name the rollout config selects this policy by. */
  String name();

  /**
   * Children for each live node, in the order given: each at least 1 (a node that is still live
   * continues), summing to at most {@code budget} ({@code budget >= live.size()}).
   */
  int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng);
}
