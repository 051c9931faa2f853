package org.treeroll.tree;

import it.unimi.dsi.fastutil.floats.FloatArrayList;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One node of a rollout tree: a segment of tokens decoded after its parent's. The root holds the
 * prompt (no log-probs); every other node holds at most one segment of response tokens, with the
 * log-prob and entropy of each. A node with no children is a leaf: a finished answer, or one
 * still growing while the tree is being sampled.
 */
public final class SegmentNode {
  private final int id;
  private final SegmentNode parent;
  private final int depth;
  private final long seed;
  private final IntArrayList tokens = new IntArrayList();
  private final FloatArrayList logProbs = new FloatArrayList();
  private final FloatArrayList entropies = new FloatArrayList();
  private final List<SegmentNode> children = new ArrayList<>();
  private FinishReason finishReason;

  SegmentNode(int id, SegmentNode parent, long seed) {
    this.id = id;
    this.parent = parent;
    this.depth = parent == null ? 0 : parent.depth + 1;
    this.seed = seed;
  }

  public int id() {
    return id;
  }

  /** Null for the root. */
  public SegmentNode parent() {
    return parent;
  }

  /** 0 for the root (the prompt), 1 for the first segment of an answer. */
  public int depth() {
    return depth;
  }

  /** Seed of the RNG that sampled this segment. */
  public long seed() {
    return seed;
  }

  public int[] tokens() {
    return tokens.toIntArray();
  }

  public int tokenCount() {
    return tokens.size();
  }

  public int token(int i) {
    return tokens.getInt(i);
  }

  public float[] logProbs() {
    return logProbs.toFloatArray();
  }

  public float[] entropies() {
    return entropies.toFloatArray();
  }

  public List<SegmentNode> children() {
    return Collections.unmodifiableList(children);
  }

  /** Whether this is the prompt, the root of its tree. */
  public boolean isRootNode() {
    return parent == null;
  }

  public boolean isLeaf() {
    return children.isEmpty();
  }

  /** Why the answer ended here, or null when it did not end at this node. */
  public FinishReason finishReason() {
    return finishReason;
  }

  /** Tokens from the start of the prompt to the end of this node. */
  public int pathLength() {
    return (parent == null ? 0 : parent.pathLength()) + tokens.size();
  }

  /** Mean log-prob of this segment's tokens (NaN when it has none). */
  public double meanLogProb() {
    double s = 0;
    for (int i = 0; i < logProbs.size(); i++) {
      s += logProbs.getFloat(i);
    }
    return logProbs.isEmpty() ? Double.NaN : s / logProbs.size();
  }

  /** Appends a sampled token. */
  public void append(int token, float logProb, float entropy) {
    tokens.add(token);
    logProbs.add(logProb);
    entropies.add(entropy);
  }

  void appendPrompt(int[] prompt) {
    tokens.addElements(0, prompt);
  }

  public void finish(FinishReason reason) {
    this.finishReason = reason;
  }

  void addChild(SegmentNode child) {
    children.add(child);
  }
}
