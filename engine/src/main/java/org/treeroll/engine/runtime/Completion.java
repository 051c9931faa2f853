package org.treeroll.engine.runtime;

import java.util.List;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.tree.FinishReason;

/**
 * One sampled response.
 *
 * @param tokens response token ids (a final EOS or stop token included)
 * @param logProbs log-prob of each response token (see SamplingParams for the temperature)
 * @param entropies entropy of the distribution each token was drawn from
 * @param candidates per token, the top candidates when requested (else an empty list)
 */
public record Completion(
    int[] tokens,
    float[] logProbs,
    float[] entropies,
    List<SampledToken> candidates,
    FinishReason finishReason) {}
