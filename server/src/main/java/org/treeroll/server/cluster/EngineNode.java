package org.treeroll.server.cluster;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.server.RolloutServer;
import org.treeroll.server.ServerOptions;

/**
 * One engine in the cluster: takes rollouts, cancellations and weight updates addressed to its node id on the
 * event bus, runs them on its {@link RolloutServer} (the same checks and answers as over HTTP),
 * relays streams and the OpenAI-compatible requests to its own HTTP API ({@link HttpRelay}),
 * and publishes its model, weight version and load on {@link Bus#ENGINES} twice a second.
 */
public final class EngineNode implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EngineNode.class);
  static final long HEARTBEAT_MS = 500;

  private final Vertx vertx;
  private final String node;
  private final String member;
  private final RolloutServer server;
  private final List<MessageConsumer<Buffer>> consumers;
  private final HttpRelay relay;
  private final long timer;

  private EngineNode(ClusterOptions.Joined joined, RolloutServer server, ServerOptions options) {
    this.vertx = joined.vertx();
    this.node = joined.nodeId();
    this.member = joined.memberId();
    this.server = server;
    this.consumers = List.of(
        vertx.eventBus().<Buffer>consumer(Bus.rollouts(node), m -> serve(m, server::submitRollout)),
        vertx.eventBus().<Buffer>consumer(Bus.cancels(node), m -> serve(m, server::cancelRollout)),
        vertx.eventBus().<Buffer>consumer(Bus.weights(node), m -> serve(m, b -> m.headers().get(Bus.FIELDS) == null
            ? server.submitWeights(b) : server.submitWeights(m.body(), m.headers().get(Bus.FIELDS)
                .getBytes(java.nio.charset.StandardCharsets.UTF_8)))));
    this.relay = new HttpRelay(vertx, node, server.port(), options);
    this.timer = vertx.setPeriodic(0, HEARTBEAT_MS, t -> heartbeat());
  }

  /**
   * Registers the engine on the bus; returns once its addresses are known cluster-wide.
   * {@code options} are the server's: relayed requests go to its HTTP API with its key.
   */
  public static EngineNode start(ClusterOptions.Joined joined, RolloutServer server, ServerOptions options) {
    EngineNode n = new EngineNode(joined, server, options);
    for (MessageConsumer<Buffer> c : java.util.stream.Stream.concat(n.consumers.stream(), n.relay.consumers.stream())
        .toList()) {
      c.completion().toCompletionStage().toCompletableFuture().orTimeout(1, TimeUnit.MINUTES).join();
    }
    log.info("engine {} serves {} to the cluster", n.node, server.modelName());
    return n;
  }

  private static void serve(Message<Buffer> m, Function<byte[], CompletableFuture<RolloutServer.Reply>> call) {
    call.apply(m.body().getBytes()).whenComplete((r, e) -> {
      RolloutServer.Reply reply = e != null ? RolloutServer.errorReply(500, null, "engine failure: " + e) : r;
      m.reply(Buffer.buffer(reply.body()), new DeliveryOptions().addHeader(Bus.STATUS, Integer.toString(reply.status())));
    });
  }

  private void heartbeat() {
    server.load().whenComplete((l, e) -> {
      if (e != null) {
        log.warn("engine {} cannot read its own load: {}", node, e.toString());
        return;
      }
      vertx.eventBus().publish(Bus.ENGINES, new JsonObject().put("node", node).put("member", member).put("model", server.modelName())
          .put("weight_version", l.weightVersion()).put("in_flight", l.inFlight())
          .put("max_in_flight", l.maxInFlight()));
    });
  }

  @Override
  public void close() {
    vertx.cancelTimer(timer);
    consumers.forEach(MessageConsumer::unregister);
    relay.close();
  }
}
