package org.treeroll.branching;

import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.SegmentNode;

/**
 * Decides where a rollout tree forks. At every segment boundary the scheduler knows how many
 * children the tree may grow next (its leaf budget, see {@link TreeRolloutConfig}); the policy
 * splits that number among the live nodes.
 */
public interface BranchingPolicy {
  /** The name the rollout config selects this policy by. */
  String name();

  /**
   * Children for each live node, in the order given: each at least 1 (a node that is still live
   * continues), summing to {@code total} ({@code total >= live.size()}).
   */
  int[] allocate(List<SegmentNode> live, int total, SplittableRandom rng);
}
