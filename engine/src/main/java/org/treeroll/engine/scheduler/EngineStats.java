package org.treeroll.engine.scheduler;

import org.treeroll.engine.runtime.RolloutStats;

/**
 * A consistent snapshot of the engine, taken by its scheduler between steps.
 *
 * @param weightVersion version of the weights serving now
 * @param pages KV pages in the pool
 * @param pagesInUse pages held by live branches, scoring and the prefix cache
 * @param peakPagesInUse most pages ever in use at once
 * @param cachedTokens tokens indexed by the prefix cache
 * @param cacheLocks locks live branches hold on cached prefixes (a locked prefix is never evicted)
 * @param activeRequests rollouts and generations being decoded
 * @param queuedRequests requests waiting for admission (all of them while a weight swap waits)
 * @param liveBranches answers being written, holding pages or waiting for them
 * @param scoreJobs scoring requests admitted and not finished
 * @param pendingWeightSwaps weight updates validated and waiting for their step boundary
 * @param totals work counters since the engine started
 */
public record EngineStats(long weightVersion, int pages, int pagesInUse, int peakPagesInUse, int cachedTokens,
    int cacheLocks, int activeRequests, int queuedRequests, int liveBranches, int scoreJobs,
    int pendingWeightSwaps, RolloutStats totals) {}
