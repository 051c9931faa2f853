package org.treeroll.tree;

import it.unimi.dsi.fastutil.floats.FloatArrayList;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One node of a rollout tree: a segment of tokens decoded after its parent's. The root holds the
 * prompt (no log-probs); every other node holds at most one segment of response tokens, with the
 * log-prob and entropy of each and, when the rollout asked for them, the top-k candidates the
 * token was drawn from. A node with no children is a leaf: a finished answer, or one still
 * growing while the tree is being sampled. A leaf carries its answer's reward once scored.
 */
public final class SegmentNode {
  private int id;
  private SegmentNode parent;
  private int depth;
  private final long seed;
  private final IntArrayList tokens = new IntArrayList();
  private final FloatArrayList logProbs = new FloatArrayList();
  private final FloatArrayList entropies = new FloatArrayList();
  private final IntArrayList candidateIds = new IntArrayList();
  private final FloatArrayList candidateLogProbs = new FloatArrayList();
  private int candidatesPerToken;
  private final List<SegmentNode> children = new ArrayList<>();
  private FinishReason finishReason;
  private double reward = Double.NaN;
  private String rewardError;
  private boolean refilled;

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

  public float logProb(int i) {
    return logProbs.getFloat(i);
  }

  public float[] entropies() {
    return entropies.toFloatArray();
  }

  public float entropy(int i) {
    return entropies.getFloat(i);
  }

  /** Top-k candidates recorded per token: 0 when the rollout did not ask for them. */
  public int candidatesPerToken() {
    return candidatesPerToken;
  }

  /** Candidate ids of token {@code i}, most likely first ({@link #candidatesPerToken} of them). */
  public int[] candidateIds(int i) {
    int k = candidatesPerToken;
    return candidateIds.subList(i * k, i * k + k).toIntArray();
  }

  /** Log-probs of the candidates of token {@code i}, in the order of {@link #candidateIds}. */
  public float[] candidateLogProbs(int i) {
    int k = candidatesPerToken;
    return candidateLogProbs.subList(i * k, i * k + k).toFloatArray();
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
    if (candidatesPerToken != 0) {
      throw new IllegalStateException("node " + id + " records " + candidatesPerToken + " candidates per token");
    }
    tokens.add(token);
    logProbs.add(logProb);
    entropies.add(entropy);
  }

  /** Appends a sampled token with the top-k candidates it was drawn from. */
  public void append(int token, float logProb, float entropy, int[] topIds, float[] topLogProbs) {
    if (tokens.isEmpty()) {
      candidatesPerToken = topIds.length;
    }
    if (topIds.length != candidatesPerToken || topLogProbs.length != candidatesPerToken) {
      throw new IllegalArgumentException("node " + id + " records " + candidatesPerToken
          + " candidates per token, got " + topIds.length + " ids and " + topLogProbs.length + " log-probs");
    }
    tokens.add(token);
    logProbs.add(logProb);
    entropies.add(entropy);
    candidateIds.addElements(candidateIds.size(), topIds);
    candidateLogProbs.addElements(candidateLogProbs.size(), topLogProbs);
  }

  void appendPrompt(int[] prompt) {
    tokens.addElements(0, prompt);
  }

  public void finish(FinishReason reason) {
    this.finishReason = reason;
  }

  /** The answer's reward; NaN until scored, or when scoring failed (see {@link #rewardError}). */
  public double reward() {
    return reward;
  }

  /** Why scoring this answer failed, or null. A failed score is never a silent zero. */
  public String rewardError() {
    return rewardError;
  }

  public boolean hasReward() {
    return !Double.isNaN(reward);
  }

  public void setReward(double reward) {
    if (Double.isNaN(reward)) {
      throw new IllegalArgumentException("reward of node " + id + " is NaN");
    }
    this.reward = reward;
    this.rewardError = null;
  }

  public void setRewardError(String error) {
    this.reward = Double.NaN;
    this.rewardError = error;
  }

  /**
   * Whether a refill started a new answer here: the tree had no live branch but fewer answers than
   * its budget, and its policy forked again from a path that had already ended.
   */
  public boolean refilled() {
    return refilled;
  }

  public void markRefilled() {
    this.refilled = true;
  }

  void addChild(SegmentNode child) {
    children.add(child);
  }

  /**
   * Moves tokens {@code [0, at)} into {@code head}, which takes this node's place under its
   * parent and becomes its parent. This node keeps the rest, its children, finish reason and
   * reward, so a leaf stays the same object (rewards in flight still find it).
   */
  void splitOff(SegmentNode head, int at) {
    int k = candidatesPerToken;
    head.tokens.addAll(tokens.subList(0, at));
    head.logProbs.addAll(logProbs.subList(0, at));
    head.entropies.addAll(entropies.subList(0, at));
    head.candidatesPerToken = k;
    head.candidateIds.addAll(candidateIds.subList(0, at * k));
    head.candidateLogProbs.addAll(candidateLogProbs.subList(0, at * k));
    tokens.removeElements(0, at);
    logProbs.removeElements(0, at);
    entropies.removeElements(0, at);
    candidateIds.removeElements(0, at * k);
    candidateLogProbs.removeElements(0, at * k);
    head.refilled = refilled; // the head now is where this answer began
    refilled = false;
    parent.children.set(parent.children.indexOf(this), head);
    parent = head;
    head.children.add(this);
  }

  void renumber(int id) {
    this.id = id;
    this.depth = parent == null ? 0 : parent.depth + 1;
  }
}
