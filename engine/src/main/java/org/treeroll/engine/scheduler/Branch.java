package org.treeroll.engine.scheduler;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.kvcache.PageTable;
import org.treeroll.kvcache.RadixKvCache;
import org.treeroll.tree.SegmentNode;

/**
 * A leaf being written: its node, RNG and response so far, and while it holds memory its page
 * table, the prefix-cache node it locks, and the distribution of its next token. Without a page
 * table it waits for memory.
 */
final class Branch {
  final TreeState tree;
  final SegmentNode node;
  final SplittableRandom rng;
  final IntArrayList response; // the path's tokens after the prompt, this node's included
  PageTable table;
  RadixKvCache.Node locked; // end of the cached prefix this branch keeps from eviction, or null
  NextTokenDistributions next;
  int nextRow;

  Branch(TreeState tree, SegmentNode node, PageTable table, IntArrayList response) {
    this.tree = tree;
    this.node = node;
    this.table = table;
    this.response = response;
    this.rng = new SplittableRandom(node.seed());
  }

  void setNext(NextTokenDistributions d, int row) {
    next = d;
    nextRow = row;
  }

  boolean waiting() {
    return table == null;
  }

  /** Prompt and response tokens: the whole path this branch has written. */
  int[] pathTokens() {
    int[] prompt = tree.tree.root().tokens();
    int[] path = Arrays.copyOf(prompt, prompt.length + response.size());
    response.getElements(0, path, prompt.length, response.size());
    return path;
  }

  /** The last token, sampled and not yet fed through the model. */
  int lastToken() {
    return node.token(node.tokenCount() - 1);
  }
}
