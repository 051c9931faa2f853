package org.treeroll.advantage;

import java.util.List;
import org.treeroll.tree.RolloutTree;

/**
 * Turns the rewards on the leaves of a batch of rollout trees into segment- and token-level
 * advantages. Works on the whole batch because some estimators (TreePO) whiten over every valid
 * token of the batch, not per prompt.
 *
 * <p>Leaves without a reward (not scored yet, or scoring failed) take part in no mean and no
 * baseline; their paths come back with mask 0 and advantage 0 and are counted as skipped.
 */
public interface AdvantageEstimator {
  /** The estimator's spec: its registered name and every parameter, e.g. {@code grpo:eps=1.0E-6,std=true}. */
  String name();

  /** One {@link PathAdvantage} per leaf, trees in the given order, leaves in tree order. */
  BatchAdvantages estimate(List<RolloutTree> trees);
}
