package org.treeroll.server;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.treeroll.engine.sampling.StopStrings;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * One answer of an OpenAI-style request as the engine sampled it, copied off the tree (so it can
 * be rendered on another thread while the engine goes on).
 *
 * @param prompt which prompt of the request it answers
 * @param index which of the prompt's n answers: the order the root forked in
 * @param tokens response tokens, a final EOS included
 * @param logProbs the engine's sampling log-prob of each token
 * @param topIds per token, the most likely candidates (empty arrays when none were asked for)
 * @param topLogProbs their log-probs
 */
record SampledAnswer(int prompt, int index, int[] tokens, float[] logProbs, int[][] topIds, float[][] topLogProbs,
    FinishReason reason) {

  /** Runs on the engine's thread (a hook) or after the tree is done. */
  static SampledAnswer of(RolloutTree tree, SegmentNode leaf) {
    List<SegmentNode> path = RolloutTree.path(leaf);
    int index = path.size() > 1 ? tree.root().children().indexOf(path.get(1)) : 0;
    int[] tokens = RolloutTree.responseTokens(leaf);
    int[][] ids = new int[tokens.length][];
    float[][] lps = new float[tokens.length][];
    int at = 0;
    for (SegmentNode s : path.subList(1, path.size())) {
      for (int i = 0; i < s.tokenCount(); i++, at++) {
        ids[at] = s.candidatesPerToken() == 0 ? new int[0] : s.candidateIds(i);
        lps[at] = s.candidatesPerToken() == 0 ? new float[0] : s.candidateLogProbs(i);
      }
    }
    return new SampledAnswer(tree.id(), index, tokens, RolloutTree.responseLogProbs(leaf), ids, lps,
        leaf.finishReason());
  }

  /**
   * The answer's text in the pieces a stream shows, cut at the first stop string.
   *
   * @param decode token ids to text, special tokens skipped
   */
  Text text(StopStrings stops, Function<int[], String> decode) {
    TextStream stream = new TextStream(decode, stops);
    List<Piece> pieces = new ArrayList<>();
    int[] offsets = new int[tokens.length];
    int from = 0;
    for (int i = 0; i < tokens.length && !stream.stopped(); i++) {
      offsets[i] = stream.offset();
      String shown = stream.add(tokens[i]);
      if (!shown.isEmpty()) {
        pieces.add(new Piece(shown, from, i + 1));
        from = i + 1;
      }
    }
    int kept = stream.keptTokens();
    String rest = stream.finish();
    if (!rest.isEmpty() || from < kept) {
      pieces.add(new Piece(rest, from, kept));
    }
    String finish = stream.stopped() ? "stop" : finishReason(reason);
    return new Text(stream.text(), pieces, kept, java.util.Arrays.copyOf(offsets, kept), finish);
  }

  /** OpenAI's finish_reason: "length" when cut by the token limit, else "stop". */
  static String finishReason(FinishReason r) {
    return r == FinishReason.MAX_TOKENS || r == FinishReason.DEPTH_LIMIT ? "length" : "stop";
  }

  /** Text shown with tokens {@code [from, to)} of the answer; either may be empty. */
  record Piece(String text, int from, int to) {}

  /**
   * @param text the whole answer's text
   * @param pieces the same text as a stream shows it, with the tokens each piece came with
   * @param kept tokens that count (those after a stop string do not)
   * @param offsets per kept token, where its text begins in {@code text} (past its end for
   *     tokens inside the stop string)
   * @param finishReason "stop" or "length"
   */
  record Text(String text, List<Piece> pieces, int kept, int[] offsets, String finishReason) {}
}
