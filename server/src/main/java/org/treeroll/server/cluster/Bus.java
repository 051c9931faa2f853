package org.treeroll.server.cluster;

/** Event-bus addresses and headers shared by engine nodes and routers. */
final class Bus {
  /** Every engine publishes its status here (a JSON object) twice a second. */
  static final String ENGINES = "treeroll.engines";
  /** The HTTP status of an engine's reply travels as a header; the body is the JSON answer. */
  static final String STATUS = "status";

  private Bus() {}

  /** Rollout requests for one engine (point to point). */
  static String rollouts(String node) {
    return "treeroll.engine." + node + ".rollouts";
  }

  /** Cancellations for one engine: the body is the rollout id. */
  static String cancels(String node) {
    return "treeroll.engine." + node + ".cancels";
  }

  /** Weight updates for one engine. */
  static String weights(String node) {
    return "treeroll.engine." + node + ".weights";
  }
}
