package org.treeroll.server.cluster;

/** Event-bus addresses and headers shared by engine nodes and routers. */
final class Bus {
  /** Every engine publishes its status here (a JSON object) twice a second. */
  static final String ENGINES = "treeroll.engines";
  /** The HTTP status of an engine's reply travels as a header; the body is the JSON answer. */
  static final String STATUS = "status";
  /** Relayed requests: the method, path and Content-Type of the HTTP request. */
  static final String METHOD = "method";
  static final String PATH = "path";
  static final String CONTENT_TYPE = "content-type";
  /** Relayed requests: the router's address for the response's parts, and the exchange they belong to. */
  static final String REPLY_TO = "reply-to";
  static final String EXCHANGE = "exchange";
  /**
   * A weight update whose body is a safetensors file carries its fields (policy, timeout_s,
   * version) as a JSON object in this header; one by path is all JSON, in the body.
   */
  static final String FIELDS = "fields";
  /** A part of a relayed response: {@code head} (status, content type), {@code chunk} (the body) or {@code end}. */
  static final String PART = "part";

  private Bus() {}

  /** Rollout requests for one engine (point to point). */
  static String rollouts(String node) {
    return "treeroll.engine." + node + ".rollouts";
  }

  /** Cancellations for one engine: the body is the rollout id. */
  static String cancels(String node) {
    return "treeroll.engine." + node + ".cancels";
  }

  /**
   * HTTP requests relayed to one engine's own HTTP API (streams and the OpenAI-compatible
   * endpoints); the response comes back in parts to the router's {@link #relayed} address.
   */
  static String relay(String node) {
    return "treeroll.engine." + node + ".relay";
  }

  /** Aborts a relayed request: the body is its exchange id. */
  static String relayCancels(String node) {
    return "treeroll.engine." + node + ".relay-cancels";
  }

  /** One router's address for the parts of relayed responses (point to point, so in order). */
  static String relayed(String router) {
    return "treeroll.router." + router + ".relayed";
  }

  /** Weight updates for one engine. */
  static String weights(String node) {
    return "treeroll.engine." + node + ".weights";
  }
}
