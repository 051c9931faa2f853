/**
 * The embedded API: {@link org.treeroll.engine.LoadedModel} (a HF model directory loaded),
 * {@link org.treeroll.engine.InferenceSession} (the engine: rollouts, generation, scoring and
 * weight updates as futures) and {@link org.treeroll.engine.RewardedRollouts} (a trainer step:
 * trees, rewards, advantages).
 */
package org.treeroll.engine;
