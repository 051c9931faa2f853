package org.treeroll.engine.rl;

import java.util.List;

/**
 * Paths packed for the decoder: right-padded rows of prompt + response (every token but the
 * last is an input), one-hot inputs {@code [rows * length, vocab]}, and per position the target
 * token (one-hot), old log-prob, advantage and mask; positions that predict no counted response
 * token have all of them zero.
 */
record PolicyBatch(int rows, int length, int vocab, float[] inputOneHot, float[] targetOneHot,
    float[] oldLogProbs, float[] advantages, float[] mask, int counted) {

  static PolicyBatch of(List<SampledPath> paths, int vocab, int padId) {
    int length = 1;
    for (SampledPath p : paths) {
      length = Math.max(length, p.prompt().length + p.response().length - 1);
    }
    int rows = paths.size();
    float[] in = new float[rows * length * vocab];
    float[] target = new float[rows * length * vocab];
    float[] old = new float[rows * length];
    float[] adv = new float[rows * length];
    float[] mask = new float[rows * length];
    int counted = 0;
    for (int r = 0; r < rows; r++) {
      SampledPath p = paths.get(r);
      int promptLen = p.prompt().length;
      int seqLen = promptLen + p.response().length;
      for (int t = 0; t < length; t++) {
        int pos = r * length + t;
        // Padding is fed as padId: causality keeps it from reaching the real positions.
        int token = t < promptLen ? p.prompt()[t] : t < seqLen - 1 ? p.response()[t - promptLen] : padId;
        in[pos * vocab + token] = 1f;
        int j = t + 1 - promptLen; // the response token position t predicts
        if (j >= 0 && j < p.response().length && p.mask()[j] != 0) {
          target[pos * vocab + p.response()[j]] = 1f;
          old[pos] = p.oldLogProbs()[j];
          adv[pos] = p.advantages()[j];
          mask[pos] = 1f;
          counted++;
        }
      }
    }
    return new PolicyBatch(rows, length, vocab, in, target, old, adv, mask, counted);
  }
}
