package org.treeroll.engine.sampling;

import ai.djl.ndarray.NDArray;

/**
 * The next-token distributions of a forward step's logit rows at one temperature: the
 * softmax, log and entropy run in the engine (vectorised, on every core), and only the
 * probabilities and one entropy per row come back to Java for sampling.
 *
 * @param probs {@code rows * vocab} probabilities, row-major
 * @param entropies entropy (nats) of each row's distribution
 */
public record NextTokenDistributions(float[] probs, float[] entropies, int vocab) {

  /** Softmax of {@code logits / temperature} for logits {@code [rows, vocab]}. */
  public static NextTokenDistributions of(NDArray logits, double temperature) {
    int vocab = (int) logits.getShape().get(1);
    NDArray logp = (temperature == 1.0 ? logits : logits.div(temperature)).logSoftmax(-1);
    NDArray p = logp.exp();
    NDArray entropy = p.mul(logp).sum(new int[] {-1}).neg();
    return new NextTokenDistributions(p.toFloatArray(), entropy.toFloatArray(), vocab);
  }

  public int rows() {
    return entropies.length;
  }
}
