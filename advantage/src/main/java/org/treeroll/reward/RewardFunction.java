package org.treeroll.reward;

import java.util.concurrent.CompletableFuture;

/**
 * Scores answers. Scoring is asynchronous so a remote verifier never blocks the decoding thread;
 * local functions simply return a completed future. The future always completes normally: a
 * failure is a {@link Reward} carrying an error.
 */
public interface RewardFunction extends AutoCloseable {

  /** The name the function is selected by, e.g. {@code math}. */
  String name();

  CompletableFuture<Reward> score(RewardRequest request);

  /** Releases what the function holds (connections, threads); local functions hold nothing. */
  @Override
  default void close() {}
}
