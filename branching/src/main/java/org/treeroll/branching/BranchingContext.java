package org.treeroll.branching;

import org.treeroll.tree.SegmentNode;

/** What the engine tells a policy beyond the tree itself. */
public interface BranchingContext {
  /** b: children one fork may make. */
  int branchingFactor();

  /** The model's input embedding of {@code token}, scaled to unit length. */
  float[] unitEmbedding(int token);

  /**
   * The meaning class of a finished answer: its normalised final answer, or null when it gave
   * none. Answers with equal classes mean the same.
   */
  String answerClass(SegmentNode leaf);
}
