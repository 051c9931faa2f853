package org.treeroll.tree;

import java.util.ArrayList;
import java.util.List;

/** The answers sampled for one prompt, as a tree of segments rooted at the prompt. */
public final class RolloutTree {
  private final int id;
  private final long weightVersion;
  private final String policy;
  private final SegmentNode root;
  private final List<SegmentNode> nodes = new ArrayList<>();
  private volatile String reference;

  /** @param policy name of the branching policy that grows (or grew) the tree */
  public RolloutTree(int id, int[] prompt, long weightVersion, long seed, String policy) {
    this.id = id;
    this.weightVersion = weightVersion;
    this.policy = policy;
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

  /** Name of the branching policy the tree was sampled with. */
  public String policy() {
    return policy;
  }

  /** The reference answer (ground truth) the answers are scored against, or null when none is known. */
  public String reference() {
    return reference;
  }

  /** Records the reference answer, so a dump of the tree can be scored again with another reward. */
  public void setReference(String reference) {
    this.reference = reference;
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

  /**
   * Splits {@code node} before its token {@code at} (0 < at < its token count) and returns the
   * new node holding the first {@code at} tokens, where a new answer can fork off. {@code node}
   * keeps the rest, its children, finish reason and reward. Ids stay unique but no longer follow
   * the tree's order until {@link #renumber}.
   */
  public SegmentNode splitAt(SegmentNode node, int at) {
    if (node.isRootNode() || at <= 0 || at >= node.tokenCount()) {
      throw new IllegalArgumentException("cannot split node " + node.id() + " of " + node.tokenCount()
          + " tokens at " + at);
    }
    SegmentNode head = new SegmentNode(nodes.size(), node.parent(), node.seed());
    node.splitOff(head, at);
    nodes.add(head);
    renumberDepths(node);
    return head;
  }

  private static void renumberDepths(SegmentNode from) {
    from.renumber(from.id());
    for (SegmentNode c : from.children()) {
      renumberDepths(c);
    }
  }

  /** Numbers the nodes in depth-first order (the root 0), so a parent's id precedes its children's. */
  public void renumber() {
    List<SegmentNode> order = new ArrayList<>();
    List<SegmentNode> stack = new ArrayList<>(List.of(root));
    while (!stack.isEmpty()) {
      SegmentNode n = stack.remove(stack.size() - 1);
      n.renumber(order.size());
      order.add(n);
      List<SegmentNode> kids = n.children();
      for (int i = kids.size() - 1; i >= 0; i--) {
        stack.add(kids.get(i));
      }
    }
    nodes.clear();
    nodes.addAll(order);
  }

  /** Every node, the root first; parents before children once {@link #renumber}ed. */
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
