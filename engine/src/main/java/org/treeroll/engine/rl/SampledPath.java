package org.treeroll.engine.rl;

/**
 * One answer as the trainer learns from it: its prompt, response tokens, the engine's log-probs
 * of them (the behaviour policy), their advantages and which of them count.
 */
public record SampledPath(int[] prompt, int[] response, float[] oldLogProbs, float[] advantages, byte[] mask) {
  public SampledPath {
    if (oldLogProbs.length != response.length || advantages.length != response.length
        || mask.length != response.length) {
      throw new IllegalArgumentException("response of " + response.length + " tokens with "
          + oldLogProbs.length + " log-probs, " + advantages.length + " advantages, " + mask.length + " mask entries");
    }
  }

  /** Tokens the loss counts. */
  public int counted() {
    int n = 0;
    for (byte b : mask) {
      n += b;
    }
    return n;
  }
}
