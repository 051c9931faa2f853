package org.treeroll.server.cluster;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * The router's guess at what one engine holds in its prefix cache: a radix tree of the prompts it
 * was sent (as SGLang's cache-aware router keeps one per worker). Approximate by design: the
 * engine may have evicted a prefix the tree still holds. Bounded: past {@code capacity} symbols the
 * least recently matched leaves go first, as an LRU cache would drop them.
 */
final class PrefixTree {
  private final long capacity;
  private final Node root = new Node(null, new int[0]);
  private long size;
  private long clock;

  PrefixTree(long capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
    }
    this.capacity = capacity;
  }

  /** Symbols held. */
  long size() {
    return size;
  }

  /** The length of the longest prefix of {@code key} in the tree. */
  int match(int[] key) {
    return walk(key, ++clock).matched();
  }

  /** Adds {@code key}, splitting an edge where it diverges; evicts old leaves past the capacity. */
  void insert(int[] key) {
    long now = ++clock;
    Walk w = walk(key, now);
    if (w.matched() < key.length) {
      Node n = w.partial() == null ? w.node() : split(w.partial(), w.common());
      Node leaf = new Node(n, Arrays.copyOfRange(key, w.matched(), key.length));
      leaf.used = now;
      n.children.put(leaf.edge[0], leaf);
      size += leaf.edge.length;
    }
    if (size > capacity) {
      evict(capacity - capacity / 5);
    }
  }

  /**
   * Where {@code key}'s path from the root ends: the deepest node whose edge it matched whole,
   * the child it matched {@code common} symbols into (or null), and the symbols matched in all.
   */
  private record Walk(Node node, Node partial, int common, int matched) {}

  private Walk walk(int[] key, long now) {
    Node n = root;
    int i = 0;
    while (i < key.length) {
      Node c = n.children.get(key[i]);
      if (c == null) {
        break;
      }
      int common = common(c.edge, key, i);
      c.used = now;
      if (common < c.edge.length) {
        return new Walk(n, c, common, i + common);
      }
      i += common;
      n = c;
    }
    return new Walk(n, null, 0, i);
  }

  /** Cuts {@code c}'s edge after {@code at} symbols; returns the new upper node. */
  private Node split(Node c, int at) {
    Node upper = new Node(c.parent, Arrays.copyOf(c.edge, at));
    upper.used = c.used;
    c.parent.children.put(upper.edge[0], upper);
    c.edge = Arrays.copyOfRange(c.edge, at, c.edge.length);
    c.parent = upper;
    upper.children.put(c.edge[0], c);
    return upper;
  }

  private void evict(long target) {
    PriorityQueue<Node> leaves = new PriorityQueue<>((a, b) -> Long.compare(a.used, b.used));
    List<Node> stack = new ArrayList<>(List.of(root));
    while (!stack.isEmpty()) {
      Node n = stack.removeLast();
      if (n.children.isEmpty() && n != root) {
        leaves.add(n);
      }
      stack.addAll(n.children.values());
    }
    while (size > target && !leaves.isEmpty()) {
      Node leaf = leaves.poll();
      leaf.parent.children.remove(leaf.edge[0]);
      size -= leaf.edge.length;
      if (leaf.parent != root && leaf.parent.children.isEmpty()) {
        leaves.add(leaf.parent);
      }
    }
  }

  private static int common(int[] edge, int[] key, int from) {
    int n = Math.min(edge.length, key.length - from);
    int i = 0;
    while (i < n && edge[i] == key[from + i]) {
      i++;
    }
    return i;
  }

  private static final class Node {
    Node parent;
    int[] edge;
    long used;
    final Map<Integer, Node> children = new HashMap<>(4);

    Node(Node parent, int[] edge) {
      this.parent = parent;
      this.edge = edge;
    }
  }
}
