package org.treeroll.engine.sampling;

/**
 * One drawn token with what a trainer or a branching policy needs about the distribution it came
 * from (see {@link SamplingParams} for the temperature these are taken at).
 *
 * @param topIds the most likely candidate ids, most likely first (empty unless requested)
 * @param topLogProbs their log-probs
 */
public record SampledToken(int id, float logProb, float entropy, int[] topIds, float[] topLogProbs) {}
