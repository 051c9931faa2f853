package org.treeroll.engine.runtime;

/**
 * Teacher-forced scores of a sequence: for tokens {@code 1..n-1}, the log-prob each had given the
 * tokens before it, and the entropy of that distribution.
 */
public record TokenScores(float[] logProbs, float[] entropies) {}
