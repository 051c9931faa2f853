package org.treeroll.engine.sampling;

import ai.djl.ndarray.NDArray;
import java.util.stream.IntStream;

/**
 * The next-token distributions of a forward step's logit rows at one temperature: the
 * softmax, log and entropy run where the logits are (PyTorch, or the Java kernels' vectors for
 * their own steps: {@code Model#distributions}), vectorised on every core, and only the
 * probabilities and one entropy per row reach the sampler.
 *
 * @param probs {@code rows * vocab} probabilities, row-major
 * @param entropies entropy (nats) of each row's distribution
 * @param logits the raw logits, row-major, when a row's penalties or logit bias need them; else null
 */
public record NextTokenDistributions(float[] probs, float[] entropies, int vocab, float[] logits) {

  /** Softmax of {@code logits / temperature} for logits {@code [rows, vocab]}. */
  public static NextTokenDistributions of(NDArray logits, double temperature) {
    return of(rows(logits), temperature == 1.0 ? null : logits.getManager().create((float) temperature), false);
  }

  /**
   * Softmax of each row of {@code logits} at its own temperature: requests with different
   * temperatures share one forward step. {@code keepLogits}: copy the raw logits back too.
   */
  public static NextTokenDistributions of(NDArray logits, float[] rowTemperatures, boolean keepLogits) {
    boolean same = true;
    for (float t : rowTemperatures) {
      same &= t == rowTemperatures[0];
    }
    NDArray t;
    if (same) {
      double one = rowTemperatures.length == 0 ? 1.0 : rowTemperatures[0];
      t = one == 1.0 ? null : logits.getManager().create((float) one);
    } else {
      t = logits.getManager().create(rowTemperatures, new ai.djl.ndarray.types.Shape(rowTemperatures.length, 1));
    }
    return of(rows(logits), t, keepLogits);
  }

  /**
   * {@link #of(NDArray, float[], boolean)} computed in Java, each row on its own in one fixed
   * order: its values depend on that row's logits and temperature only, bit for bit, not on the
   * other rows or the number of threads (batch-invariant decoding). PyTorch's element-wise
   * {@code exp} runs an element through its vectorised or its scalar code depending on where a
   * thread's share of {@code [rows, vocab]} begins, and the entropies' batched dot product goes
   * through MKL, which documents that its sums may depend on the threads and on the alignment of
   * its inputs. Sums here run in double, in index order; {@link Math#exp} and {@link Math#log}
   * give the same bits interpreted or compiled (HotSpot runs the same routine in both).
   */
  public static NextTokenDistributions inFixedOrder(NDArray logits, float[] rowTemperatures, boolean keepLogits) {
    return inFixedOrder(floats(rows(logits)), (int) logits.getShape().get(1), rowTemperatures, keepLogits);
  }

  /** {@link #inFixedOrder(NDArray, float[], boolean)} over logits {@code [rows, vocab]} row-major in {@code raw}. */
  public static NextTokenDistributions inFixedOrder(float[] raw, int vocab, float[] rowTemperatures, boolean keepLogits) {
    float[] probs = new float[raw.length];
    float[] entropies = new float[rowTemperatures.length];
    // Rows in parallel: each is computed whole by one thread, so which one does not matter.
    IntStream.range(0, rowTemperatures.length).parallel().forEach(r -> {
      int at = r * vocab;
      double t = rowTemperatures[r];
      double max = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < vocab; i++) {
        max = Math.max(max, raw[at + i] / t);
      }
      double[] e = new double[vocab];
      double sum = 0;
      for (int i = 0; i < vocab; i++) {
        e[i] = Math.exp(raw[at + i] / t - max);
        sum += e[i];
      }
      double logSum = Math.log(sum);
      double entropy = 0;
      for (int i = 0; i < vocab; i++) {
        double p = e[i] / sum;
        probs[at + i] = (float) p;
        if (p > 0) {
          entropy -= p * (raw[at + i] / t - max - logSum);
        }
      }
      entropies[r] = (float) entropy;
    });
    return new NextTokenDistributions(probs, entropies, vocab, keepLogits ? raw : null);
  }

  /**
   * A batched LM head leaves a transposed view; one explicit copy to row-major (reshape of a
   * strided array copies) is cheaper than softmax reading it strided.
   */
  private static NDArray rows(NDArray logits) {
    return logits.reshape(-1).reshape(logits.getShape());
  }

  private static NextTokenDistributions of(NDArray rows, NDArray temperature, boolean keepLogits) {
    int vocab = (int) rows.getShape().get(1);
    NDArray logp = (temperature == null ? rows : rows.div(temperature)).logSoftmax(-1);
    NDArray p = logp.exp();
    return new NextTokenDistributions(floats(p), entropies(p, logp).toFloatArray(), vocab,
        keepLogits ? floats(rows) : null);
  }

  /**
   * The entropy (nats) of each row of a distribution {@code [rows, vocab]} given as probabilities
   * and their logs: {@code H = -sum p log p}, as one batched dot product per row (no
   * {@code [rows, vocab]} temporary). The one formula for sampling and scoring alike.
   */
  public static NDArray entropies(NDArray p, NDArray logp) {
    long n = logp.getShape().get(0);
    long vocab = logp.getShape().get(1);
    return p.reshape(n, 1, vocab).matMul(logp.reshape(n, vocab, 1)).reshape(n).neg();
  }

  /**
   * The values of {@code a}, copied once from a view of its memory. DJL's {@code toFloatArray}
   * first copies into a new direct buffer: for 64 rows of a 152k vocabulary that is a 39 MB
   * native allocation per step, released only when the GC gets to it.
   */
  private static float[] floats(NDArray a) {
    float[] out = new float[Math.toIntExact(a.size())];
    a.toByteBuffer(true).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer().get(out);
    return out;
  }

  public int rows() {
    return entropies.length;
  }
}
