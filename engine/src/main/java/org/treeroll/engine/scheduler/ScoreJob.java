package org.treeroll.engine.scheduler;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.TreeRollException;

/**
 * Teacher-forced scoring as scheduler work: the log-prob of every token of each sequence given
 * the tokens before it, what a trainer recomputes as old log-probs. It advances one chunk of at
 * most {@code maxStepTokens} positions per scheduler turn, between rollout steps, and takes the
 * pages of a whole sequence before it starts it, so it never holds pages while it waits.
 * Log-softmax and the target gather run in the engine ({@link org.treeroll.engine.runtime.Model#scores});
 * two floats per token leave it.
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
    float[][] scored = forward.score(new SequenceChunk(table, Arrays.copyOfRange(seq, start, end), true), targets,
        temperature);
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
}
