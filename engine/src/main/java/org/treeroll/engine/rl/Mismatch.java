package org.treeroll.engine.rl;

/**
 * How far the trainer's log-probs of the sampled tokens are from the engine's, before the
 * update: the train-inference mismatch. Both hold the same weights, so only numerics differ.
 *
 * @param max largest |trainer - engine| log-prob
 * @param mean mean of it over the tokens
 * @param tokens tokens compared
 */
public record Mismatch(double max, double mean, long tokens) {
  static final class Accumulator {
    private double max;
    private double sum;
    private long tokens;

    void add(float[] trainer, PolicyBatch b) {
      for (int i = 0; i < trainer.length; i++) {
        if (b.mask()[i] != 0) {
          double d = Math.abs(trainer[i] - b.oldLogProbs()[i]);
          max = Math.max(max, Double.isNaN(d) ? Double.POSITIVE_INFINITY : d);
          sum += d;
          tokens++;
        }
      }
    }

    Mismatch result() {
      return new Mismatch(max, tokens == 0 ? 0 : sum / tokens, tokens);
    }
  }
}
