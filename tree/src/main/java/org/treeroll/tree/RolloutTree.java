package org.treeroll.tree;

import java.util.ArrayList;
import java.util.List;

/** The answers sampled for one prompt, as a tree of segments rooted at the prompt. */
public final class RolloutTree {
  private final int id;
  private final long weightVersion;
  private final SegmentNode root;
  private final List<SegmentNode> nodes = new ArrayList<>();

  public RolloutTree(int id, int[] prompt, long weightVersion, long seed) {
    this.id = id;
    this.weightVersion = weightVersion;
    this.root = new SegmentNode(0, null, seed);
    root.appendPrompt(prompt);
    nodes.add(root);
  }

  public int id() {
    return id;
  }

  /** Version of the weights every token of the tree was sampled under. */
  public long weightVersion() {
    return weightVersion;
  }

  public SegmentNode root() {
    return root;
  }

  public int[] prompt() {
    return root.tokens();
  }

  /** Adds a new segment under {@code parent}. */
  public SegmentNode addChild(SegmentNode parent, long seed) {
    SegmentNode child = new SegmentNode(nodes.size(), parent, seed);
    parent.addChild(child);
    nodes.add(child);
    return child;
  }

  /** Every node, the root first, in creation order. */
  public List<SegmentNode> nodes() {
    return List.copyOf(nodes);
  }

  /** Nodes without children, other than the root. */
  public List<SegmentNode> leaves() {
    return nodes.stream().filter(n -> n.isLeaf() && n.parent() != null).toList();
  }

  /** Response tokens of the path from the root to {@code node}, the prompt excluded. */
  public static int[] responseTokens(SegmentNode node) {
    List<SegmentNode> path = path(node);
    return path.stream().skip(1).flatMapToInt(n -> java.util.Arrays.stream(n.tokens())).toArray();
  }

  /** Log-probs of the response tokens of the path to {@code node}. */
  public static float[] responseLogProbs(SegmentNode node) {
    List<SegmentNode> path = path(node);
    int n = path.stream().skip(1).mapToInt(SegmentNode::tokenCount).sum();
    float[] out = new float[n];
    int at = 0;
    for (SegmentNode s : path.subList(1, path.size())) {
      float[] lp = s.logProbs();
      System.arraycopy(lp, 0, out, at, lp.length);
      at += lp.length;
    }
    return out;
  }

  /** Root first. */
  public static List<SegmentNode> path(SegmentNode node) {
    List<SegmentNode> path = new ArrayList<>();
    for (SegmentNode n = node; n != null; n = n.parent()) {
      path.add(0, n);
    }
    return path;
  }

  /** Tokens of all nodes, prompt included: what decoding this tree computes at least once. */
  public int distinctTokens() {
    return nodes.stream().mapToInt(SegmentNode::tokenCount).sum();
  }

  /**
   * What independent sampling of the same answers would compute: the prompt once (shared through
   * the prefix cache, as vLLM's n > 1 does) plus every leaf's whole response.
   */
  public int independentTokens() {
    int prompt = root.tokenCount();
    return prompt + leaves().stream().mapToInt(l -> l.pathLength() - prompt).sum();
  }
}
