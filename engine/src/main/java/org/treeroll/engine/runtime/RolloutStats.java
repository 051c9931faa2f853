package org.treeroll.engine.runtime;

/**
 * What the engine did, over its life or for one request ({@link RolloutHooks#rolloutFinished}).
 *
 * @param computedTokens tokens fed through the model (recomputation included, scoring excluded)
 * @param cacheHitTokens prompt and path tokens whose KV came from the prefix cache instead
 * @param suspensions times a branch gave up its pages for lack of memory
 * @param refills fork points at which new answers started in trees that had run out of branches
 * @param forwardSteps batched forward passes run (for a request: those it had rows in)
 */
public record RolloutStats(long computedTokens, long cacheHitTokens, long suspensions, long refills,
    long forwardSteps) {}
