package org.treeroll.engine.runtime;

import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * What a rollout tells its caller while it runs, and what it asks about answers. Called on the
 * engine's scheduler thread: implementations hand slow work (a remote verifier) off and return at once. A
 * hook that throws fails its own request, with what it threw; requests batched with it go on.
 */
public interface RolloutHooks {
  RolloutHooks NONE = new RolloutHooks() {};

  /**
   * The normalised final answer in {@code response} (token ids after the prompt), or null when
   * it holds none yet. {@code finished}: the answer has ended, so a final line without its
   * newline counts. Used to stop answers whose outcome is settled and to group answers by meaning.
   */
  default String finalAnswer(int[] response, boolean finished) {
    return null;
  }

  /**
   * A token was sampled and appended to {@code node}, the leaf being written (its last token);
   * {@link #leafFinished} follows when that token ends the answer. For streaming: copy what is
   * needed and return at once.
   */
  default void tokenSampled(RolloutTree tree, SegmentNode node) {}

  /** An answer ended: {@code leaf} will not change again except by splits above it. */
  default void leafFinished(RolloutTree tree, SegmentNode leaf) {}

  /**
   * A tree is done: no answer of it is being written and none will start. Its nodes are
   * numbered for good (depth first, see {@link RolloutTree#renumber}); nothing changes it again.
   */
  default void treeFinished(RolloutTree tree) {}

  /**
   * Every tree of the request is done; {@code stats} counts this request's own work, whatever
   * else shared its forward steps. Called just before the request completes.
   */
  default void rolloutFinished(RolloutStats stats) {}
}
