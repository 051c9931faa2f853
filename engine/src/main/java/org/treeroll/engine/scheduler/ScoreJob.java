package org.treeroll.engine.scheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.TreeRollException;

/**
 * Teacher-forced scoring as scheduler work: the log-prob of every token of each sequence given
 * the tokens before it, what a trainer recomputes as old log-probs. It advances one chunk of at
 * most {@code maxStepTokens} positions per scheduler turn, between rollout steps, and takes the
 * pages of a whole sequence before it starts it, so it never holds pages while it waits. A
 * token's log-prob is the log of its probability in the step's distribution, as sampling reports
 * it ({@link org.treeroll.engine.sampling.TokenSampler}), so scoring a sampled path gives its
 * sampled log-probs; where that probability underflows fp32 it is the exact log-softmax.
 */
final class ScoreJob {
  final List<int[]> sequences;
  final double temperature;
  final CompletableFuture<List<TokenScores>> done = new CompletableFuture<>();
  private final List<TokenScores> results = new ArrayList<>();
  private PageTable table; // of the sequence being scored, null between sequences
  private float[] logProbs;
  private float[] entropies;
  private int position; // next position to feed
  private boolean failed;

  ScoreJob(List<int[]> sequences, double temperature) {
    this.sequences = sequences;
    this.temperature = temperature;
  }

  /**
   * Runs the next chunk. Returns false when the next sequence cannot get its pages yet.
   */
  boolean advance(KvMemory memory, ForwardPass forward, int maxStepTokens) {
    int[] seq = sequences.get(results.size());
    if (table == null) {
      // Positions 0..n-2 predict tokens 1..n-1; the last token is only a target.
      if (!memory.makeRoom(memory.pool().pagesFor(seq.length - 1))) {
        return false;
      }
      table = new PageTable(memory.pool());
      table.reserve(seq.length - 1);
      logProbs = new float[seq.length - 1];
      entropies = new float[seq.length - 1];
      position = 0;
    }
    int start = position;
    int end = Math.min(seq.length - 1, start + maxStepTokens);
    int[] targets = new int[end - start];
    for (int i = 0; i < targets.length; i++) {
      targets[i] = seq[start + i + 1];
    }
    NextTokenDistributions d = forward.score(
        new SequenceChunk(table, Arrays.copyOfRange(seq, start, end), true), temperature);
    float[][] scored = scores(d, targets, temperature);
    for (int i = 0; i < targets.length; i++) {
      if (Float.isNaN(scored[0][i])) {
        release();
        failed = true;
        done.completeExceptionally(new TreeRollException("the model produced non-finite logits scoring sequence "
            + results.size() + " at position " + (start + i) + "; its weights or activations hold NaN or Inf"));
        return true;
      }
    }
    System.arraycopy(scored[0], 0, logProbs, start, targets.length);
    System.arraycopy(scored[1], 0, entropies, start, targets.length);
    position = end;
    if (end == seq.length - 1) {
      release();
      results.add(new TokenScores(logProbs, entropies));
      if (results.size() == sequences.size()) {
        done.complete(List.copyOf(results));
      }
    }
    return true;
  }

  boolean finished() {
    return failed || results.size() == sequences.size();
  }

  /** Returns the pages of the sequence in progress (on completion, failure or cancellation). */
  void release() {
    if (table != null) {
      table.release();
      table = null;
    }
  }

  /** Each row's log-prob of its target and its entropy; {@code d} keeps its logits. */
  private static float[][] scores(NextTokenDistributions d, int[] targets, double temperature) {
    float[] logProbs = new float[targets.length];
    int vocab = d.vocab();
    for (int r = 0; r < targets.length; r++) {
      float p = d.probs()[r * vocab + targets[r]];
      logProbs[r] = p >= Float.MIN_NORMAL || Float.isNaN(p) ? (float) Math.log(p)
          : exactLogProb(d.logits(), r * vocab, vocab, targets[r], temperature);
    }
    return new float[][] {logProbs, Arrays.copyOf(d.entropies(), targets.length)};
  }

  /** {@code log softmax(z / t)[target]} of the row at {@code at}, in double. */
  private static float exactLogProb(float[] z, int at, int vocab, int target, double t) {
    double max = Double.NEGATIVE_INFINITY;
    for (int i = at; i < at + vocab; i++) {
      max = Math.max(max, z[i] / t);
    }
    double sum = 0;
    for (int i = at; i < at + vocab; i++) {
      sum += Math.exp(z[i] / t - max);
    }
    return (float) (z[at + target] / t - max - Math.log(sum));
  }
}
