package org.treeroll.engine.runtime;

import org.treeroll.kvcache.PageTable;

/**
 * New tokens of one sequence for a forward step. They take positions
 * {@code table.length() .. table.length() + tokens.length - 1}; the forward writes their KV into
 * the table's pages (which the caller has reserved) and advances the table.
 *
 * @param allLogits whether to return logits at every new position (scoring) or only the last
 *     (sampling)
 */
public record SequenceChunk(PageTable table, int[] tokens, boolean allLogits) {
  public SequenceChunk {
    if (tokens.length == 0) {
      throw new IllegalArgumentException("a chunk needs at least one token");
    }
  }

  /** Logit rows this chunk contributes to the forward's output. */
  public int logitRows() {
    return allLogits ? tokens.length : 1;
  }
}
