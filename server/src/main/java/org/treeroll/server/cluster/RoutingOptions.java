package org.treeroll.server.cluster;

/**
 * How the router chooses engines (SGLang's router's defaults for the thresholds).
 *
 * @param roundRobin round-robin instead of cache-aware routing (the benchmark's baseline)
 * @param cacheThreshold the share of a prompt an engine's tree must match to be preferred
 * @param balanceAbs requests more than the least-loaded engine's past which the load counts as out of balance
 * @param balanceRel times the least-loaded engine's load past which it counts as out of balance
 */
public record RoutingOptions(boolean roundRobin, double cacheThreshold, int balanceAbs, double balanceRel) {
  public static RoutingOptions defaults() {
    return new RoutingOptions(false, 0.3, 32, 1.5);
  }

  EngineSelector selector() {
    return new EngineSelector(roundRobin ? EngineSelector.Routing.ROUND_ROBIN : EngineSelector.Routing.CACHE_AWARE,
        cacheThreshold, balanceAbs, balanceRel);
  }
}
