package org.treeroll.branching;

import org.treeroll.tree.SegmentNode;

/**
 * New answers starting inside an existing path: they keep the first {@code offset} tokens of
 * {@code node} (all of them: fork at its end; fewer: the node is split there) and sample on.
 *
 * @param children how many new answers start here
 */
public record ForkPoint(SegmentNode node, int offset, int children) {
  public ForkPoint {
    if (offset < 0 || offset > node.tokenCount() || (offset == 0 && !node.isRootNode())) {
      throw new IllegalArgumentException("fork offset " + offset + " outside node " + node.id()
          + " of " + node.tokenCount() + " tokens");
    }
    if (children < 1) {
      throw new IllegalArgumentException("a fork needs at least one child, got " + children);
    }
  }

  /** New answers forking after the last token of {@code node}. */
  public static ForkPoint atEnd(SegmentNode node, int children) {
    return new ForkPoint(node, node.tokenCount(), children);
  }
}
