package org.treeroll.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * How far the log-probs recorded while trees were sampled are from those of every answer rescored
 * alone, teacher-forced, by another (or the same) session: the check that tree decoding with shared
 * KV computes what each path alone would, and the measure of what a change in the engine (16-bit
 * KV pages, say) moves.
 *
 * @param tokens response tokens compared
 * @param maxAbs largest |recorded - rescored| log-prob
 * @param meanAbs mean |recorded - rescored| log-prob
 */
public record Rescored(long tokens, double maxAbs, double meanAbs) {
  /** Rescores every answer of {@code trees} with {@code scorer} at {@code temperature} and compares. */
  public static Rescored of(InferenceSession scorer, List<RolloutTree> trees, double temperature) {
    List<int[]> whole = new ArrayList<>();
    List<float[]> recorded = new ArrayList<>();
    List<Integer> promptLengths = new ArrayList<>();
    for (RolloutTree t : trees) {
      for (SegmentNode leaf : t.leaves()) {
        int[] p = t.prompt();
        int[] resp = RolloutTree.responseTokens(leaf);
        int[] w = Arrays.copyOf(p, p.length + resp.length);
        System.arraycopy(resp, 0, w, p.length, resp.length);
        whole.add(w);
        recorded.add(RolloutTree.responseLogProbs(leaf));
        promptLengths.add(p.length);
      }
    }
    List<TokenScores> scores = scorer.score(whole, temperature).join();
    double max = 0;
    double sum = 0;
    long n = 0;
    for (int i = 0; i < whole.size(); i++) {
      float[] rec = recorded.get(i);
      for (int k = 0; k < rec.length; k++) {
        double d = Math.abs(rec[k] - scores.get(i).logProbs()[promptLengths.get(i) - 1 + k]);
        max = Math.max(max, d);
        sum += d;
        n++;
      }
    }
    return new Rescored(n, max, n == 0 ? 0 : sum / n);
  }
}
