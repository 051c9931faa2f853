package org.treeroll.engine.rl;

import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.tree.TreeRollException;

/**
 * One RL run.
 *
 * @param name label of the run (its preset, or policy + estimator)
 * @param rollout how each problem's answers are sampled
 * @param estimator advantage estimator spec
 * @param steps training steps at most
 * @param tokenBudget stop after the step whose sampled forward tokens reach this many (0: no
 *     budget), so configurations that spend tokens differently compare at equal compute
 * @param problemsPerStep train-split problems per step; step s takes indices
 *     {@code s * problemsPerStep ..} of the seed
 * @param seed seed of the training problems and of sampling
 * @param evalEvery measure held-out accuracy every this many steps (and before the first, and
 *     after the last)
 * @param evalProblems fixed held-out problems measured each time
 * @param filterUniform drop the answers of problems whose answers all got the same reward before
 *     the update (DAPO's dynamic sampling filter): their GRPO advantages are 0 and would only
 *     dilute the token mean; their tokens still count as sampled
 * @param decay whether the learning rate follows a cosine from its value down to a tenth of it
 *     over the run (its token budget, else its steps)
 * @param trainer the policy update's settings
 */
public record RlConfig(String name, TreeRolloutConfig rollout, String estimator, int steps, long tokenBudget,
    int problemsPerStep, long seed, int evalEvery, int evalProblems, boolean filterUniform,
    boolean decay, PolicyTrainer.Settings trainer) {
  public RlConfig {
    positive("--steps", steps);
    if (tokenBudget < 0) {
      throw new TreeRollException("--token-budget must be >= 0, got " + tokenBudget);
    }
    positive("--problems-per-step", problemsPerStep);
    positive("--eval-every", evalEvery);
    positive("--eval-problems", evalProblems);
  }

  private static void positive(String option, long v) {
    if (v <= 0) {
      throw new TreeRollException(option + " must be > 0, got " + v);
    }
  }
}
