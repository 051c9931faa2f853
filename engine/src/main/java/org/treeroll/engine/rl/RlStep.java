package org.treeroll.engine.rl;

/**
 * One line of a run's metrics: a training step, or (step 0) the measurement before training.
 *
 * @param step 1-based; 0 for the initial measurement
 * @param sampledTokens tokens the engine fed through the model for training rollouts so far
 *     (its computed tokens: shared prefixes once), held-out measurements excluded
 * @param meanReward mean reward of this step's answers (NaN at step 0)
 * @param answers answers sampled this step
 * @param trainedAnswers answers the update learned from (all, unless uniform groups are filtered)
 * @param heldOutAccuracy held-out accuracy after this step, NaN when not measured
 * @param mismatchMax largest |trainer - engine| log-prob before this step's update
 * @param mismatchMean its mean over the step's tokens
 * @param loss the clipped surrogate (with the KL penalty), mean over optimizer steps
 * @param kl k3 KL estimate to the initial model, mean over optimizer steps (0 without a penalty)
 * @param clipFraction share of counted tokens the ratio clip bounded, over every pass
 * @param weightVersion the engine's weights version after the step
 * @param seconds wall time since the run started
 */
public record RlStep(int step, long sampledTokens, double meanReward, int answers, int trainedAnswers,
    double heldOutAccuracy, double mismatchMax, double mismatchMean, double loss, double kl, double clipFraction,
    long weightVersion, double seconds) {}
