package org.treeroll.engine.rl;

/**
 * One line of a run's metrics: a training step, or (step 0) the measurement before training.
 *
 * @param step 1-based; 0 for the initial measurement
 * @param sampledTokens tokens the engine fed through the model for training rollouts so far
 *     (its computed tokens: shared prefixes once), held-out measurements excluded
 * @param meanReward mean reward of this step's answers (NaN at step 0)
 * @param answers answers sampled this step
 * @param heldOutAccuracy held-out accuracy after this step, NaN when not measured
 * @param mismatchMax largest |trainer - engine| log-prob before this step's update
 * @param mismatchMean its mean over the step's tokens
 * @param loss the clipped surrogate, mean over minibatches
 * @param weightVersion the engine's weights version after the step
 * @param seconds wall time since the run started
 */
public record RlStep(int step, long sampledTokens, double meanReward, int answers, double heldOutAccuracy,
    double mismatchMax, double mismatchMean, double loss, long weightVersion, double seconds) {}
