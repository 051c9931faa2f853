package org.treeroll.engine.scheduler;

import org.treeroll.engine.runtime.RolloutStats;

/** Work counters, written by the scheduler thread only; volatile so any thread may read them. */
final class Counters {
  volatile long computedTokens;
  volatile long hitTokens;
  volatile long suspensions;
  volatile long refills;
  volatile long forwardSteps;

  RolloutStats snapshot() {
    return new RolloutStats(computedTokens, hitTokens, suspensions, refills, forwardSteps);
  }
}
