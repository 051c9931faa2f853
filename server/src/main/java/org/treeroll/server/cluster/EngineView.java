package org.treeroll.server.cluster;

import java.util.LinkedHashSet;
import java.util.Set;

/**
 * What a router knows of one engine: what the engine last reported (model, weight version, its
 * limit on requests in flight), what the router itself sent it and has not had answered, and the
 * prompts it was sent. Touched only on the router's event loop.
 */
final class EngineView {
  /** Symbols of prompt prefixes remembered per engine (an int each). */
  static final long TREE_CAPACITY = 4_000_000;

  final String node;
  /** Hazelcast's member id of the engine's node. */
  final String member;
  final String model;
  final PrefixTree tree = new PrefixTree(TREE_CAPACITY);
  final Set<ClusterRouter.Dispatch> pending = new LinkedHashSet<>();
  long weightVersion;
  int maxInFlight;
  long lastSeenNanos;
  long routed;
  /** A catch-up weight update is on its way to this engine. */
  boolean catchingUp;
  /** The cluster version this engine failed to load, or was warned about: neither is repeated. */
  long failedVersion = -2;

  EngineView(String node, String member, String model, long weightVersion, int maxInFlight) {
    this.node = node;
    this.member = member;
    this.model = model;
    this.weightVersion = weightVersion;
    this.maxInFlight = maxInFlight;
  }

  /** Requests the router sent and has not had answered: its measure of load. */
  int load() {
    return pending.size();
  }

  boolean saturated() {
    return pending.size() >= maxInFlight;
  }
}
