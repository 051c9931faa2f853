package org.treeroll.engine.sampling;

import java.util.Arrays;
import org.treeroll.tree.TreeRollException;

/**
 * How tokens are drawn. Log-probs and entropies are always those of the full distribution at
 * the sampling temperature, {@code softmax(logits / temperature)}, before top-k/top-p truncation:
 * the quantity an RL trainer recomputes as the old policy's log-prob. With temperature 0
 * (greedy) they are taken at temperature 1.
 *
 * @param temperature 0 for greedy, else > 0
 * @param topP nucleus mass in (0, 1]; 1 disables it
 * @param topK keep the k most likely tokens; 0 disables it. Applied before top-p, which then
 *     works on the renormalised top-k distribution
 * @param maxTokens response tokens at most
 * @param stopTokenIds extra ids that end a response (the model's EOS ids always do unless
 *     {@code ignoreEos})
 * @param seed seed of the first sequence's RNG; sequence i of a request uses a stream derived
 *     from (seed, i), so its tokens do not depend on what else is in the batch
 * @param logprobs number of top candidates (ids and log-probs) to record per token, 0 for none
 * @param ignoreEos keep sampling past EOS (benchmarks)
 */
public record SamplingParams(
    double temperature,
    double topP,
    int topK,
    int maxTokens,
    int[] stopTokenIds,
    long seed,
    int logprobs,
    boolean ignoreEos) {

  public static final int MAX_LOGPROBS = 100;

  public SamplingParams {
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new TreeRollException("temperature must be >= 0, got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new TreeRollException("top_p must be in (0, 1], got " + topP);
    }
    if (topK < 0) {
      throw new TreeRollException("top_k must be >= 0 (0 = off), got " + topK);
    }
    if (maxTokens <= 0) {
      throw new TreeRollException("max_tokens must be > 0, got " + maxTokens);
    }
    if (logprobs < 0 || logprobs > MAX_LOGPROBS) {
      throw new TreeRollException("logprobs must be in [0, " + MAX_LOGPROBS + "], got " + logprobs);
    }
    stopTokenIds = stopTokenIds == null ? new int[0] : stopTokenIds.clone();
  }

  /** Temperature 1, no truncation, 64 tokens, seed 0. */
  public static SamplingParams defaults() {
    return new SamplingParams(1.0, 1.0, 0, 64, new int[0], 0, 0, false);
  }

  public SamplingParams withTemperature(double t) {
    return new SamplingParams(t, topP, topK, maxTokens, stopTokenIds, seed, logprobs, ignoreEos);
  }

  public SamplingParams withTopP(double p) {
    return new SamplingParams(temperature, p, topK, maxTokens, stopTokenIds, seed, logprobs, ignoreEos);
  }

  public SamplingParams withTopK(int k) {
    return new SamplingParams(temperature, topP, k, maxTokens, stopTokenIds, seed, logprobs, ignoreEos);
  }

  public SamplingParams withMaxTokens(int n) {
    return new SamplingParams(temperature, topP, topK, n, stopTokenIds, seed, logprobs, ignoreEos);
  }

  public SamplingParams withStopTokenIds(int... ids) {
    return new SamplingParams(temperature, topP, topK, maxTokens, ids, seed, logprobs, ignoreEos);
  }

  public SamplingParams withSeed(long s) {
    return new SamplingParams(temperature, topP, topK, maxTokens, stopTokenIds, s, logprobs, ignoreEos);
  }

  public SamplingParams withLogprobs(int n) {
    return new SamplingParams(temperature, topP, topK, maxTokens, stopTokenIds, seed, n, ignoreEos);
  }

  public SamplingParams withIgnoreEos(boolean ignore) {
    return new SamplingParams(temperature, topP, topK, maxTokens, stopTokenIds, seed, logprobs, ignore);
  }

  /** Temperature the recorded log-probs are taken at. */
  public double logprobTemperature() {
    return temperature == 0 ? 1.0 : temperature;
  }

  public boolean isStopToken(int id) {
    return Arrays.stream(stopTokenIds).anyMatch(s -> s == id);
  }
}
