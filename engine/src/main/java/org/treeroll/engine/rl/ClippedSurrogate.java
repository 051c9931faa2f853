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
 * with T the number of tokens the mask counts. {@link #klToReference} is the optional penalty
 * that keeps the policy near the initial model.
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

  /**
   * The k3 estimate of KL(policy || reference) on the sampled tokens (Schulman's low-variance
   * estimator, as GRPO and verl's {@code low_var_kl} use it), token-mean:
   * {@code (1 / T) * sum_t mask_t * (exp(d_t) - d_t - 1)} with {@code d_t = ref_t - new_t}.
   * Non-negative, 0 where the two agree, and its gradient pulls {@code new_t} toward {@code ref_t}.
   */
  public static NDArray klToReference(NDArray newLogProbs, NDArray referenceLogProbs, NDArray mask, int tokens) {
    NDArray d = referenceLogProbs.sub(newLogProbs);
    return d.exp().sub(d).sub(1f).mul(mask).sum().mul(1f / Math.max(tokens, 1));
  }
}
