package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.TreeRollException;

/**
 * Teacher-forced scoring: the log-prob of every token of a sequence given the tokens before it,
 * what a trainer recomputes as old log-probs. Log-softmax and the target gather run in the
 * engine, so only two floats per token leave it.
 */
public final class Scorer {
  private final Model model;
  private final KvStore kv;
  private final int maxStepTokens;

  public Scorer(Model model, KvStore kv, int maxStepTokens) {
    this.model = model;
    this.kv = kv;
    this.maxStepTokens = maxStepTokens;
  }

  /**
   * Scores tokens {@code 1..n-1} of each sequence at {@code temperature}.
   *
   * @return per sequence, log-probs and entropies of length {@code n - 1}
   */
  public List<TokenScores> score(List<int[]> sequences, double temperature) {
    if (!(temperature > 0)) {
      throw new TreeRollException("temperature must be > 0 for scoring, got " + temperature);
    }
    List<TokenScores> out = new ArrayList<>();
    for (int i = 0; i < sequences.size(); i++) {
      int[] seq = sequences.get(i);
      if (seq.length < 2) {
        throw new TreeRollException("sequence " + i + " needs at least 2 tokens to score, got "
            + seq.length);
      }
      if (seq.length > model.config().maxPositionEmbeddings()) {
        throw new TreeRollException("sequence " + i + " has " + seq.length
            + " tokens, more than max_position_embeddings " + model.config().maxPositionEmbeddings());
      }
      out.add(scoreOne(seq, temperature));
    }
    return out;
  }

  private TokenScores scoreOne(int[] seq, double temperature) {
    float[] logProbs = new float[seq.length - 1];
    float[] entropies = new float[seq.length - 1];
    PageTable table = new PageTable(kv.pool());
    try {
      // Positions 0..n-2 predict tokens 1..n-1; the last token is only a target.
      for (int start = 0; start < seq.length - 1; start += maxStepTokens) {
        int end = Math.min(seq.length - 1, start + maxStepTokens);
        int[] chunk = Arrays.copyOfRange(seq, start, end);
        long[] targets = new long[end - start];
        for (int i = 0; i < targets.length; i++) {
          targets[i] = seq[start + i + 1];
        }
        table.reserve(chunk.length);
        try (NDManager m = NDManager.newBaseManager(model.device())) {
          NDArray logits = model.forward(List.of(new SequenceChunk(table, chunk, true)), kv, m);
          NDArray lp = logits.muli(1.0 / temperature).logSoftmax(-1);
          NDArray picked = lp.get(new NDIndex("{}, {}", m.arange(targets.length).toType(
              ai.djl.ndarray.types.DataType.INT64, false), m.create(targets)));
          NDArray entropy = lp.exp().muli(lp).sum(new int[] {-1}).neg();
          System.arraycopy(picked.toFloatArray(), 0, logProbs, start, targets.length);
          System.arraycopy(entropy.toFloatArray(), 0, entropies, start, targets.length);
        }
      }
    } finally {
      table.release();
    }
    return new TokenScores(logProbs, entropies);
  }

  /** Log-prob and entropy for tokens 1..n-1 of a sequence. */
  public record TokenScores(float[] logProbs, float[] entropies) {}
}
