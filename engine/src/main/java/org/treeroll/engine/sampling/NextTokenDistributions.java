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
    // A batched LM head leaves a transposed view; one explicit copy to row-major (reshape of a
    // strided array copies) is cheaper than softmax reading it strided.
    NDArray rows = logits.reshape(-1).reshape(logits.getShape());
    NDArray logp = (temperature == 1.0 ? rows : rows.div(temperature)).logSoftmax(-1);
    NDArray p = logp.exp();
    // H = -sum p log p, as one batched dot product per row: no [rows, vocab] temporary.
    long n = logp.getShape().get(0);
    NDArray entropy = p.reshape(n, 1, vocab).matMul(logp.reshape(n, vocab, 1)).reshape(n).neg();
    return new NextTokenDistributions(p.toFloatArray(), entropy.toFloatArray(), vocab);
  }

  public int rows() {
    return entropies.length;
  }
}
