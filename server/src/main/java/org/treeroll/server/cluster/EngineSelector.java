package org.treeroll.server.cluster;

import java.util.Comparator;
import java.util.List;
import org.treeroll.tree.TreeRollException;

/**
 * Chooses the engine for a request. Cache-aware routing as SGLang's router does it
 * (docs/scale-out.md): the engine whose prefix tree matches the most of the prompt, if the
 * match covers more than {@code threshold} of it; otherwise the least-loaded engine. The
 * preferred engine is passed over for the least-loaded one when it is saturated or the load is
 * out of balance (more than {@code balanceAbs} requests and {@code balanceRel} times the least
 * loaded engine's). Round-robin is kept as the baseline the benchmark compares with.
 */
final class EngineSelector {
  /** The routing policies. */
  enum Routing { CACHE_AWARE, ROUND_ROBIN }

  /** Why an engine was chosen; counted in {@code GET /v1/cluster}. */
  enum Reason { PREFIX, LEAST_LOADED, SPILL, ROUND_ROBIN }

  record Choice(EngineView engine, Reason reason, int matched) {}

  private final Routing routing;
  private final double threshold;
  private final int balanceAbs;
  private final double balanceRel;
  private long next;

  EngineSelector(Routing routing, double threshold, int balanceAbs, double balanceRel) {
    if (!(threshold >= 0 && threshold <= 1)) {
      throw new TreeRollException("--cache-threshold must be in [0, 1], got " + threshold);
    }
    if (balanceAbs < 0) {
      throw new TreeRollException("--balance-abs must be >= 0, got " + balanceAbs);
    }
    if (!(balanceRel >= 1)) {
      throw new TreeRollException("--balance-rel must be >= 1, got " + balanceRel);
    }
    this.routing = routing;
    this.threshold = threshold;
    this.balanceAbs = balanceAbs;
    this.balanceRel = balanceRel;
  }

  /** The engine for a request whose prompts are {@code key}; records the key in its tree. */
  Choice choose(List<EngineView> engines, int[] key) {
    if (engines.isEmpty()) {
      throw new IllegalArgumentException("no engines to choose from");
    }
    Choice c = routing == Routing.ROUND_ROBIN
        ? new Choice(engines.get((int) (next++ % engines.size())), Reason.ROUND_ROBIN, 0) : cacheAware(engines, key);
    c.engine().tree.insert(key);
    c.engine().routed++;
    return c;
  }

  private Choice cacheAware(List<EngineView> engines, int[] key) {
    // Ties go to the engine with fewer requests routed so far, so that idle engines share new prompts.
    EngineView least = engines.stream().min(Comparator.comparingInt(EngineView::load)
        .thenComparingLong(e -> e.routed)).orElseThrow();
    EngineView best = null;
    int matched = 0;
    for (EngineView e : engines) {
      int m = e.tree.match(key);
      if (m > matched || m == matched && best != null && m > 0 && e.load() < best.load()) {
        best = e;
        matched = m;
      }
    }
    if (best == null || key.length == 0 || matched <= threshold * key.length) {
      return new Choice(least, Reason.LEAST_LOADED, matched);
    }
    boolean imbalanced = best.load() - least.load() > balanceAbs && best.load() > balanceRel * least.load();
    if (best != least && (best.saturated() || imbalanced)) {
      return new Choice(least, Reason.SPILL, matched);
    }
    return new Choice(best, Reason.PREFIX, matched);
  }
}
