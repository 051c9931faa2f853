package org.treeroll.engine.scheduler;

import java.util.concurrent.CompletableFuture;

/**
 * A validated weight update waiting for its step boundary: {@code apply} copies the prepared
 * tensors into the model's memory and runs on the scheduler thread with no step in flight.
 */
record WeightSwap(long version, WeightSwapPolicy policy, long deadlineNanos, Runnable apply,
    CompletableFuture<Long> done) {}
