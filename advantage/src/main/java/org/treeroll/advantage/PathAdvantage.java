package org.treeroll.advantage;

import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * The advantages of one answer: the path from the root of {@code tree} to {@code leaf}. The
 * arrays are owned by this record and not copied: callers must not change them.
 *
 * @param segmentAdvantages one per node of the path after the root, in path order
 * @param tokenAdvantages one per response token, aligned with {@link RolloutTree#responseTokens}
 * @param responseMask 1 for tokens a trainer should learn from, 0 for the tokens of an answer
 *     without a reward
 */
public record PathAdvantage(RolloutTree tree, SegmentNode leaf, double[] segmentAdvantages,
    float[] tokenAdvantages, byte[] responseMask) {

  /** An answer with a reward: each segment's advantage broadcast over that segment's tokens. */
  static PathAdvantage of(RolloutTree tree, SegmentNode leaf, double[] segmentAdvantages) {
    List<SegmentNode> path = RolloutTree.path(leaf);
    if (segmentAdvantages.length != path.size() - 1) {
      throw new IllegalArgumentException(segmentAdvantages.length + " segment advantages for a path of "
          + (path.size() - 1) + " segments");
    }
    int n = path.stream().skip(1).mapToInt(SegmentNode::tokenCount).sum();
    float[] tokens = new float[n];
    byte[] mask = new byte[n];
    int at = 0;
    for (int s = 0; s < segmentAdvantages.length; s++) {
      int len = path.get(s + 1).tokenCount();
      java.util.Arrays.fill(tokens, at, at + len, (float) segmentAdvantages[s]);
      at += len;
    }
    java.util.Arrays.fill(mask, (byte) 1);
    return new PathAdvantage(tree, leaf, segmentAdvantages, tokens, mask);
  }

  /** An answer without a reward: all zeros, masked out. */
  static PathAdvantage excluded(RolloutTree tree, SegmentNode leaf) {
    int n = leaf.pathLength() - tree.root().tokenCount();
    return new PathAdvantage(tree, leaf, new double[leaf.depth()], new float[n], new byte[n]);
  }

  /** Whether the answer had a reward and so counts for training. */
  public boolean included() {
    return leaf.hasReward();
  }

  /** Tokens of the response. */
  public int responseLength() {
    return tokenAdvantages.length;
  }

  /**
   * Where each node of the path ends, as response token offsets (exclusive), in path order: the
   * last equals {@link #responseLength}.
   */
  public int[] segmentEnds() {
    List<SegmentNode> path = RolloutTree.path(leaf);
    int[] ends = new int[path.size() - 1];
    int at = 0;
    for (int s = 0; s < ends.length; s++) {
      at += path.get(s + 1).tokenCount();
      ends[s] = at;
    }
    return ends;
  }
}
