/**
 * An RL trainer in the engine's JVM: each step samples trees (or independent answers) through
 * {@link org.treeroll.engine.RewardedRollouts}, takes clipped policy-gradient steps on a
 * {@link org.treeroll.engine.train.TrainableDecoder} holding the engine's weights, and pushes
 * the new weights into the running engine with
 * {@link org.treeroll.engine.InferenceSession#updateWeights}. docs/learning.md shows runs.
 */
package org.treeroll.engine.rl;
