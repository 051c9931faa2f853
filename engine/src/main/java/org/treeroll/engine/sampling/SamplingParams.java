package org.treeroll.engine.sampling;

import java.util.Arrays;
import org.treeroll.tree.TreeRollException;

/**
 * How tokens are drawn, per request and per branch of its trees (penalties and stop strings see
 * each branch's own output). Recorded log-probs, top candidates and entropies are always those of
 * the raw distribution at the sampling temperature, {@code softmax(logits / temperature)}: before
 * the penalties and logit bias ({@link LogitAdjustments}) and before min-p, top-k and top-p
 * truncation, which only change which token is drawn. That is the quantity an RL trainer
 * recomputes as the old policy's log-prob. With temperature 0 (greedy) they are taken at
 * temperature 1.
 *
 * @param temperature 0 for greedy, else > 0
 * @param topP nucleus mass in (0, 1]; 1 disables it
 * @param topK keep the k most likely tokens; 0 disables it. Applied before top-p, which then
 *     works on the renormalised top-k distribution
 * @param minP in [0, 1]: after top-k and top-p, drop tokens less likely than {@code minP} times
 *     the most likely one; 0 disables it
 * @param maxTokens response tokens at most
 * @param stopTokenIds extra ids that end a response (the model's EOS ids always do unless
 *     {@code ignoreEos})
 * @param stop stop strings
 * @param adjustments repetition, presence and frequency penalties and logit bias
 * @param seed seed of the first sequence's RNG; sequence i of a request uses a stream derived
 *     from (seed, i), so its tokens do not depend on what else is in the batch
 * @param logprobs number of top candidates (ids and log-probs) to record per token, 0 for none
 * @param ignoreEos keep sampling past EOS (benchmarks)
 * @param batchInvariant batch-invariant, replayable decoding: with a seed, the request's tokens,
 *     log-probs and entropies are the same bit for bit whether it runs alone or among other
 *     requests, and from run to run on the same machine. Every forward step
 *     that holds one of its sequences runs in fixed order ({@link
 *     org.treeroll.engine.runtime.Model#forward}), other requests' rows of that step included, and
 *     its distributions come from {@link NextTokenDistributions#inFixedOrder}. It reuses no
 *     prefix another request cached: that KV may have come from a step in the faster order.
 *     Needs the Java Vector API kernels (CPU, JDK 22+); otherwise the request is refused
 */
public record SamplingParams(
    double temperature,
    double topP,
    int topK,
    double minP,
    int maxTokens,
    int[] stopTokenIds,
    StopStrings stop,
    LogitAdjustments adjustments,
    long seed,
    int logprobs,
    boolean ignoreEos,
    boolean batchInvariant) {

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
    if (!(minP >= 0 && minP <= 1)) {
      throw new TreeRollException("min_p must be in [0, 1] (0 = off), got " + minP);
    }
    if (maxTokens <= 0) {
      throw new TreeRollException("max_tokens must be > 0, got " + maxTokens);
    }
    if (logprobs < 0 || logprobs > MAX_LOGPROBS) {
      throw new TreeRollException("logprobs must be in [0, " + MAX_LOGPROBS + "], got " + logprobs);
    }
    stopTokenIds = stopTokenIds == null ? new int[0] : stopTokenIds.clone();
    stop = stop == null ? StopStrings.NONE : stop;
    adjustments = adjustments == null ? LogitAdjustments.NONE : adjustments;
  }

  /** Without min-p, stop strings, penalties or logit bias; not batch-invariant. */
  public SamplingParams(double temperature, double topP, int topK, int maxTokens, int[] stopTokenIds, long seed,
      int logprobs, boolean ignoreEos) {
    this(temperature, topP, topK, 0, maxTokens, stopTokenIds, StopStrings.NONE, LogitAdjustments.NONE, seed, logprobs,
        ignoreEos, false);
  }

  /** Temperature 1, no truncation, 64 tokens, seed 0. */
  public static SamplingParams defaults() {
    return new SamplingParams(1.0, 1.0, 0, 64, new int[0], 0, 0, false);
  }

  public SamplingParams withTemperature(double t) {
    return new SamplingParams(t, topP, topK, minP, maxTokens, stopTokenIds, stop, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withTopP(double p) {
    return new SamplingParams(temperature, p, topK, minP, maxTokens, stopTokenIds, stop, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withTopK(int k) {
    return new SamplingParams(temperature, topP, k, minP, maxTokens, stopTokenIds, stop, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withMinP(double p) {
    return new SamplingParams(temperature, topP, topK, p, maxTokens, stopTokenIds, stop, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withMaxTokens(int n) {
    return new SamplingParams(temperature, topP, topK, minP, n, stopTokenIds, stop, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withStopTokenIds(int... ids) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, ids, stop, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withStop(StopStrings s) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, s, adjustments, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withAdjustments(LogitAdjustments a) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, stop, a, seed, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withSeed(long s) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, stop, adjustments, s, logprobs,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withLogprobs(int n) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, stop, adjustments, seed, n,
        ignoreEos, batchInvariant);
  }

  public SamplingParams withIgnoreEos(boolean ignore) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, stop, adjustments, seed,
        logprobs, ignore, batchInvariant);
  }

  public SamplingParams withBatchInvariant(boolean on) {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, stop, adjustments, seed,
        logprobs, ignoreEos, on);
  }

  /** Temperature the recorded log-probs are taken at. */
  public double logprobTemperature() {
    return temperature == 0 ? 1.0 : temperature;
  }

  public boolean isStopToken(int id) {
    return Arrays.stream(stopTokenIds).anyMatch(s -> s == id);
  }
}
