package org.treeroll.engine.rl;

import ai.djl.ndarray.NDArray;

/**
 * PPO's clipped surrogate with token-level aggregation (DAPO, verl's {@code token-mean}): every
 * response token of the minibatch weighs the same, whatever the length of its answer.
 *
 * <pre>
 *   r_t  = exp(logp_new_t - logp_old_t)
 *   loss = -(1 / T) * sum_t mask_t * min(r_t * A_t, clip(r_t, 1 - eps, 1 + eps) * A_t)
 * </pre>
 *
 * with T the number of tokens the mask counts. No KL term to the initial model.
 */
public final class ClippedSurrogate {
  private ClippedSurrogate() {}

  /**
   * @param newLogProbs the policy's log-probs of the sampled tokens, differentiable
   * @param oldLogProbs the behaviour policy's (the engine's, at sampling time)
   * @param advantages one per token
   * @param mask 1 for a counted token, 0 for prompt and padding positions
   * @param clip eps
   * @param tokens T, the tokens counted (at least 1)
   */
  public static NDArray loss(NDArray newLogProbs, NDArray oldLogProbs, NDArray advantages, NDArray mask,
      double clip, int tokens) {
    NDArray ratio = newLogProbs.sub(oldLogProbs).exp();
    NDArray unclipped = ratio.mul(advantages);
    NDArray clipped = ratio.clip(1 - clip, 1 + clip).mul(advantages);
    return unclipped.minimum(clipped).mul(mask).sum().mul(-1f / Math.max(tokens, 1));
  }
}
