package org.treeroll.engine.scheduler;

import java.time.Duration;
import org.treeroll.tree.TreeRollException;

/**
 * What a weight update does with the work in flight. No tree ever mixes versions and the prefix
 * cache never serves KV of an older version: either way, requests admitted before the swap run
 * entirely on the old weights and requests admitted after it entirely on the new ones, and the
 * swap flushes the cache.
 *
 * @param abort fail every admitted rollout and scoring request at once (with an error
 *     naming the new version) and swap at the next step boundary; otherwise the swap waits for
 *     them to finish, admitting nothing new meanwhile
 * @param timeout how long a waiting swap may wait; past it the update fails, the old weights keep
 *     serving and admission resumes
 * @param version the version to tag the new weights with (greater than the current one), or -1
 *     for the current one plus one
 */
public record WeightSwapPolicy(boolean abort, Duration timeout, long version) {
  public WeightSwapPolicy {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new TreeRollException("weight update timeout must be > 0, got " + timeout);
    }
    if (version < -1) {
      throw new TreeRollException("weight update version must be >= 0 (or -1 for the next), got " + version);
    }
  }

  /** Waits up to ten minutes for requests in flight, then tags the next version. */
  public static WeightSwapPolicy waitForRequests() {
    return new WeightSwapPolicy(false, Duration.ofMinutes(10), -1);
  }

  /** Aborts requests in flight and tags the next version. */
  public static WeightSwapPolicy abortRequests() {
    return new WeightSwapPolicy(true, Duration.ofMinutes(10), -1);
  }

  public WeightSwapPolicy withTimeout(Duration t) {
    return new WeightSwapPolicy(abort, t, version);
  }

  public WeightSwapPolicy withVersion(long v) {
    return new WeightSwapPolicy(abort, timeout, v);
  }
}
