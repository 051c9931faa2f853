package org.treeroll.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.server.RolloutServer;
import org.treeroll.server.RolloutServer.Reply;
import org.treeroll.server.ServerOptions;
import org.treeroll.tree.TreeRollException;

/**
 * The HTTP API in front of the cluster's engines (docs/scale-out.md). Each rollout goes whole to
 * one engine (every answer of a prompt shares its KV cache), chosen by {@link EngineSelector};
 * the engine that served it is named in the {@code X-TreeRoll-Engine} header. Weight updates
 * pass a version barrier: dispatch stops, every engine swaps, and only then does the update
 * answer and dispatch resume; an engine on another version gets no work until it caught up. An
 * engine lost (Hazelcast removed the member, its consumer is gone, or it fell silent) has its
 * unanswered requests sent again elsewhere under the same id (engines answer a repeated id with
 * the same rollout). All state lives on one event loop.
 */
public final class ClusterRouter implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ClusterRouter.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern ID = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
  static final String ENGINE_HEADER = "X-TreeRoll-Engine";
  /** Engines a request may be sent to before it is answered 503. */
  static final int MAX_ATTEMPTS = 3;
  /** An engine silent this long is taken out even if Hazelcast still lists it (a hung JVM). */
  static final long SILENT_MS = 10_000;
  /** The router waits this much past the engine's own request timeout. */
  static final long TIMEOUT_MARGIN_MS = 10_000;

  private final Vertx vertx;
  private final Context context;
  private final ServerOptions options;
  private final EngineSelector selector;
  private final Map<String, EngineView> engines = new HashMap<>();
  private final Map<String, Dispatch> running = new HashMap<>();
  private final Cache<String, byte[]> finished;
  private final List<Dispatch> waiting = new ArrayList<>();
  private final Map<EngineSelector.Reason, Long> reasons = new EnumMap<>(EngineSelector.Reason.class);
  /** Relayed requests by their current exchange id. */
  private final Map<String, Dispatch> exchanges = new HashMap<>();
  /** This router's address for the parts of relayed responses (two routers may share a node). */
  private final String relayed = Bus.relayed(UUID.randomUUID().toString());
  private final RouterMetrics metrics;
  private long clusterVersion = -1; // unknown until the first engine reports
  private WeightUpdate lastUpdate; // the update that made clusterVersion, sent to engines that missed it
  private boolean updating;
  private long redispatched;
  private long enginesLost;
  private HttpServer http;
  private MessageConsumer<JsonObject> heartbeats;
  private MessageConsumer<Buffer> parts;
  private long sweeper;
  private UUID membership;
  private final ClusterOptions.Joined joined;

  /**
   * A request on its way: sent to one engine at a time until one answers. A rollout without a
   * stream goes to the engine's bus consumer and its answer completes {@code done}. A relayed
   * request ({@code ctx} set: a stream, an OpenAI-compatible request) goes to the engine's own
   * HTTP API through {@link HttpRelay} and is written to {@code ctx} part by part as it comes;
   * {@code done} completes with null when it ended, or with the error to answer.
   */
  static final class Dispatch {
    final String id; // the rollout's; null for other requests
    final byte[] body;
    final int[] key;
    final CompletableFuture<Reply> done = new CompletableFuture<>();
    final RoutingContext ctx;
    EngineView engine;
    String servedBy;
    int attempts;
    String exchange; // of the relayed attempt in progress: parts of an earlier one are ignored
    int status;
    String type;
    boolean emitted; // a part of the body reached the client: the request can no longer be sent elsewhere
    final Buffer streamed; // a streamed rollout's events, to keep its result readable here

    Dispatch(String id, byte[] body, int[] key, RoutingContext ctx) {
      this.id = id;
      this.body = body;
      this.key = key;
      this.ctx = ctx;
      this.streamed = id != null && ctx != null ? Buffer.buffer() : null;
    }
  }

  private ClusterRouter(ClusterOptions.Joined joined, ServerOptions options, RoutingOptions routing) {
    this.joined = joined;
    this.vertx = joined.vertx();
    this.context = vertx.getOrCreateContext();
    this.options = options;
    this.selector = routing.selector();
    this.finished = Caffeine.newBuilder().expireAfterWrite(options.resultTtl()).maximumSize(options.maxResults())
        .build();
    this.metrics = new RouterMetrics(new RouterMetrics.Gauges(engines::size,
        () -> engines.values().stream().filter(e -> e.weightVersion == clusterVersion).count(), () -> clusterVersion,
        () -> engines.values().stream().mapToInt(EngineView::load).sum(), waiting::size));
  }

  /** Starts the router on a node that has joined the cluster; returns once it listens. */
  public static ClusterRouter start(ClusterOptions.Joined joined, ServerOptions options, RoutingOptions routing) {
    ClusterRouter r = new ClusterRouter(joined, options, routing);
    CompletableFuture<Void> up = new CompletableFuture<>();
    r.context.runOnContext(v -> r.listen().onComplete(ar -> {
      if (ar.succeeded()) {
        up.complete(null);
      } else {
        up.completeExceptionally(ar.cause());
      }
    }));
    try {
      up.get(1, TimeUnit.MINUTES);
    } catch (Exception e) {
      Throwable c = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
      throw new TreeRollException("cannot start the router: " + c.getMessage(), c);
    }
    log.info("routing on http://{}:{}", options.host(), r.port());
    return r;
  }

  public int port() {
    return http.actualPort();
  }

  private io.vertx.core.Future<HttpServer> listen() {
    heartbeats = vertx.eventBus().consumer(Bus.ENGINES, m -> onHeartbeat(m.body()));
    parts = vertx.eventBus().consumer(relayed, this::onPart);
    sweeper = vertx.setPeriodic(EngineNode.HEARTBEAT_MS, t -> sweepSilent());
    membership = joined.manager().getHazelcastInstance().getCluster().addMembershipListener(new MembershipListener() {
      @Override
      public void memberAdded(MembershipEvent e) {}

      @Override
      public void memberRemoved(MembershipEvent e) {
        String member = e.getMember().getUuid().toString();
        context.runOnContext(v -> engines.values().stream().filter(x -> x.member.equals(member)).findFirst()
            .ifPresent(x -> lost(x.node, "left the cluster")));
      }
    });
    Router r = Router.router(vertx);
    r.route().handler(this::authenticate);
    r.route().handler(BodyHandler.create().setBodyLimit(options.maxBodyBytes()).setHandleFileUploads(false));
    r.route().handler(ctx -> {
      ctx.put("t0", System.nanoTime());
      ctx.next();
    });
    r.post("/v1/rollouts").handler(this::postRollout);
    r.post("/v1/completions").handler(ctx -> postOpenAi(ctx, "prompt"));
    r.post("/v1/chat/completions").handler(ctx -> postOpenAi(ctx, "messages"));
    r.get("/v1/models").handler(ctx -> relay(new Dispatch(null, new byte[0], new int[0], ctx)));
    r.get("/metrics").handler(ctx -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8").end(metrics.scrape()));
    r.get("/v1/rollouts/:id").handler(this::getRollout);
    r.delete("/v1/rollouts/:id").handler(this::deleteRollout);
    r.post("/v1/weights").handler(this::postWeights);
    r.get("/v1/cluster").handler(ctx -> send(ctx, new Reply(200, bytes(clusterJson())), null));
    r.get("/health").handler(ctx -> send(ctx, new Reply(200, bytes(JSON.createObjectNode().put("status", "ok")
        .put("engines", engines.size()).put("weight_version", clusterVersion))), null));
    r.route().last().handler(ctx -> send(ctx, RolloutServer.errorReply(404, null, "no route "
        + ctx.request().method() + " " + ctx.request().path() + " on the router (docs/scale-out.md)"), null));
    return parts.completion().compose(v -> vertx.createHttpServer(new HttpServerOptions().setHost(options.host())
        .setPort(options.port())).requestHandler(r).listen().onSuccess(s -> http = s));
  }

  /** With {@code --api-key}, every request but {@code /health} carries it, as on an engine. */
  private void authenticate(RoutingContext ctx) {
    if (options.apiKey() == null || ctx.request().path().equals("/health")) {
      ctx.next();
      return;
    }
    if (!RolloutServer.carriesKey(ctx, options.apiKey())) {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
      send(ctx, RolloutServer.errorReply(401, null, RolloutServer.KEY_REQUIRED), null);
      return;
    }
    ctx.next();
  }

  // ---- Rollouts. ----

  private void postRollout(RoutingContext ctx) {
    ObjectNode body = jsonObject(ctx);
    if (body == null) {
      return;
    }
    JsonNode given = body.get("id");
    if (given != null && !(given.isTextual() && ID.matcher(given.asText()).matches())) {
      send(ctx, RolloutServer.errorReply(400, "id", "must be 1-64 characters of letters, digits and . _ : -"), null);
      return;
    }
    String id = given != null ? given.asText() : "ro-" + UUID.randomUUID();
    if (running.containsKey(id) || finished.getIfPresent(id) != null) {
      send(ctx, RolloutServer.errorReply(409, "id", "a rollout with id " + id + " exists; choose another"), null);
      return;
    }
    body.put("id", id); // every engine that runs it runs it under this id
    boolean stream = body.path("stream").asBoolean(false);
    Dispatch d = new Dispatch(id, bytes(body), RoutingKey.of(body.get("prompts")), stream ? ctx : null);
    running.put(id, d);
    if (stream) {
      d.done.whenComplete((reply, e) -> running.remove(id));
      relay(d);
      return;
    }
    d.done.whenComplete((reply, e) -> context.runOnContext(v -> {
      running.remove(id);
      if (reply.status() == 200) {
        finished.put(id, reply.body()); // acknowledged results stay readable here, whatever becomes of the engine
      }
      send(ctx, reply, d.servedBy);
    }));
    dispatch(d);
  }

  private void dispatch(Dispatch d) {
    if (updating) {
      waiting.add(d); // sent once every engine serves the new weights
      return;
    }
    List<EngineView> serving = engines.values().stream().filter(e -> e.weightVersion == clusterVersion).toList();
    if (serving.isEmpty()) {
      d.done.complete(RolloutServer.errorReply(503, null, engines.isEmpty() ? "no engine is in the cluster; retry"
          : "no engine serves weight version " + clusterVersion + " yet (" + engines.size() + " in the cluster); retry"));
      return;
    }
    EngineSelector.Choice c = selector.choose(serving, d.key);
    reasons.merge(c.reason(), 1L, Long::sum);
    metrics.dispatched(c, d.key.length);
    EngineView e = c.engine();
    e.pending.add(d);
    d.engine = e;
    d.attempts++;
    if (d.ctx != null) {
      sendRelayed(d, e);
      return;
    }
    vertx.eventBus().<Buffer>request(Bus.rollouts(e.node), Buffer.buffer(d.body),
        new DeliveryOptions().setSendTimeout(options.requestTimeout().toMillis() + TIMEOUT_MARGIN_MS))
        .onComplete(ar -> answered(d, e, ar));
  }

  private void answered(Dispatch d, EngineView e, AsyncResult<Message<Buffer>> ar) {
    if (d.engine != e) {
      return; // e was lost and the request sent elsewhere; this late answer is not the one
    }
    e.pending.remove(d);
    d.engine = null;
    if (ar.succeeded()) {
      d.servedBy = e.node;
      d.done.complete(new Reply(Integer.parseInt(ar.result().headers().get(Bus.STATUS)), ar.result().body().getBytes()));
    } else if (ar.cause() instanceof ReplyException x && x.failureType() == ReplyFailure.TIMEOUT) {
      d.done.complete(RolloutServer.errorReply(504, null, "engine " + e.node + " did not answer within "
          + (options.requestTimeout().toMillis() + TIMEOUT_MARGIN_MS) / 1000 + " s"));
    } else if (ar.cause() instanceof ReplyException x && x.failureType() == ReplyFailure.RECIPIENT_FAILURE) {
      d.done.complete(RolloutServer.errorReply(502, null, "engine " + e.node + ": " + x.getMessage()));
    } else {
      lost(e.node, "cannot be reached: " + ar.cause().getMessage());
      redispatch(d);
    }
  }

  private void redispatch(Dispatch d) {
    exchanges.remove(d.exchange);
    if (d.emitted) {
      metrics.streamBroken();
      d.done.complete(RolloutServer.errorReply(503, null, "the engine was lost after the answer began; the part"
          + " sent is all there is: retry the request"));
      return;
    }
    if (d.attempts >= MAX_ATTEMPTS) {
      d.done.complete(RolloutServer.errorReply(503, null, "rollout " + d.id + " was sent to " + d.attempts
          + " engines and each was lost; retry"));
      return;
    }
    redispatched++;
    metrics.resent();
    dispatch(d);
  }

  // ---- Relayed requests: streams and the OpenAI-compatible endpoints. ----

  /** {@code /v1/completions} and {@code /v1/chat/completions}, routed by their prompt or messages. */
  private void postOpenAi(RoutingContext ctx, String prompt) {
    ObjectNode body = jsonObject(ctx);
    if (body != null) {
      relay(new Dispatch(null, ctx.body().buffer().getBytes(), RoutingKey.ofOpenAi(body.get(prompt)), ctx));
    }
  }

  /**
   * Sends a request to an engine's own HTTP API and writes the answer as it comes. A request
   * whose engine is lost before any of the answer reached the client is sent to another engine
   * (the engine had written nothing, or only the status); after that it ends with a retryable
   * error in the stream's own shape, since re-running it elsewhere would repeat events.
   */
  private void relay(Dispatch d) {
    d.ctx.response().closeHandler(v -> {
      if (!d.done.isDone()) { // the client went away: the engine cancels when its connection closes
        d.done.complete(RolloutServer.errorReply(499, null, "the client went away"));
      }
    });
    d.done.whenComplete((reply, e) -> context.runOnContext(v -> {
      exchanges.remove(d.exchange);
      waiting.remove(d);
      if (d.engine != null) { // given up on while the engine still runs it
        d.engine.pending.remove(d);
        vertx.eventBus().send(Bus.relayCancels(d.engine.node), Buffer.buffer(d.exchange));
        d.engine = null;
      }
      if (reply != null) {
        failRelayed(d, reply);
      }
    }));
    dispatch(d);
  }

  private void sendRelayed(Dispatch d, EngineView e) {
    String exchange = UUID.randomUUID().toString();
    d.exchange = exchange;
    d.servedBy = e.node;
    exchanges.put(exchange, d);
    DeliveryOptions o = new DeliveryOptions().setSendTimeout(options.requestTimeout().toMillis() + TIMEOUT_MARGIN_MS)
        .addHeader(Bus.METHOD, d.ctx.request().method().name()).addHeader(Bus.PATH, d.ctx.request().uri())
        .addHeader(Bus.REPLY_TO, relayed).addHeader(Bus.EXCHANGE, exchange);
    String type = d.ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    if (type != null) {
      o.addHeader(Bus.CONTENT_TYPE, type);
    }
    vertx.eventBus().<Buffer>request(Bus.relay(e.node), Buffer.buffer(d.body), o).onComplete(ar -> {
      if (ar.failed() && exchange.equals(d.exchange)) { // a success is told by the "end" part, in order
        answered(d, e, ar);
      }
    });
  }

  /** A part of a relayed response, in the order the engine wrote it. */
  private void onPart(Message<Buffer> m) {
    Dispatch d = exchanges.get(m.headers().get(Bus.EXCHANGE));
    if (d == null || d.done.isDone()) {
      return; // an attempt given up on
    }
    HttpServerResponse res = d.ctx.response();
    switch (m.headers().get(Bus.PART)) {
      case "head" -> {
        d.status = Integer.parseInt(m.headers().get(Bus.STATUS));
        d.type = m.headers().get(Bus.CONTENT_TYPE);
      }
      case "chunk" -> {
        if (!d.emitted) {
          d.emitted = true;
          head(d).setChunked(true);
        }
        res.write(m.body());
        if (d.streamed != null) {
          d.streamed.appendBuffer(m.body());
        }
      }
      case "end" -> {
        exchanges.remove(d.exchange);
        d.engine.pending.remove(d);
        d.engine = null;
        if (!d.emitted) {
          head(d);
        }
        res.end();
        ObjectNode result = d.streamed != null && d.status == 200 ? streamedResult(d.streamed) : null;
        if (result != null) {
          finished.put(d.id, bytes(result)); // before running forgets the id
        }
        metrics.record(route(d.ctx), d.status, System.nanoTime() - (long) d.ctx.get("t0"));
        d.done.complete(null);
      }
      default -> log.warn("unknown part {} of a relayed response", m.headers().get(Bus.PART));
    }
  }

  /**
   * A streamed rollout's answer as {@code GET /v1/rollouts/{id}} gives it: the {@code done} event
   * with its trees put back (from the {@code tree} events, in tree order); null if the stream
   * ended otherwise (an error line).
   */
  static ObjectNode streamedResult(Buffer ndjson) {
    List<JsonNode> trees = new ArrayList<>();
    ObjectNode done = null;
    try {
      for (String line : ndjson.toString(java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
        JsonNode e = line.isBlank() ? null : JSON.readTree(line);
        if (e != null && e.path("event").asText().equals("tree")) {
          trees.add(e.get("tree"));
        } else if (e != null && e.path("event").asText().equals("done")) {
          done = (ObjectNode) e;
        }
      }
    } catch (IOException e) {
      log.warn("a streamed rollout's events do not parse: {}", e.getMessage());
      return null;
    }
    if (done == null) {
      return null;
    }
    done.remove("event");
    trees.sort(java.util.Comparator.comparingLong(t -> t.path("tree_id").asLong()));
    done.putArray("trees").addAll(trees);
    return done;
  }

  private HttpServerResponse head(Dispatch d) {
    HttpServerResponse res = d.ctx.response().setStatusCode(d.status).putHeader(ENGINE_HEADER, d.servedBy);
    if (d.type != null) {
      res.putHeader(HttpHeaders.CONTENT_TYPE, d.type);
    }
    if (d.status == 503 || d.status == 429) {
      res.putHeader(HttpHeaders.RETRY_AFTER, "1");
    }
    return res;
  }

  /**
   * A relayed request that failed: a plain error if nothing was sent yet, else the error as the
   * stream's last event (an NDJSON line; an SSE event and {@code [DONE]}), as an engine ends a
   * stream that fails.
   */
  private void failRelayed(Dispatch d, Reply reply) {
    HttpServerResponse res = d.ctx.response();
    if (!d.emitted) {
      send(d.ctx, reply, null);
      return;
    }
    if (res.ended() || res.closed()) {
      return;
    } else if (d.type != null && d.type.startsWith("text/event-stream")) {
      res.end(Buffer.buffer("data: ").appendBytes(reply.body()).appendString("\n\ndata: [DONE]\n\n"));
    } else if (d.type != null && d.type.startsWith("application/x-ndjson")) {
      res.end(Buffer.buffer(reply.body()).appendString("\n"));
    } else {
      res.reset(); // half a JSON body cannot be mended: the client sees the connection fail
    }
    metrics.record(route(d.ctx), reply.status(), System.nanoTime() - (long) d.ctx.get("t0"));
  }

  private static String route(RoutingContext ctx) {
    return ctx.currentRoute() == null || ctx.currentRoute().getPath() == null ? "other" : ctx.currentRoute().getPath();
  }

  private void getRollout(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    byte[] done = finished.getIfPresent(id);
    if (done != null) {
      send(ctx, new Reply(200, done), null);
    } else if (running.containsKey(id)) {
      send(ctx, new Reply(202, bytes(JSON.createObjectNode().put("id", id).put("object", "rollout")
          .put("status", "running"))), null);
    } else {
      send(ctx, RolloutServer.errorReply(404, "id", "no rollout " + id), null);
    }
  }

  /**
   * Cancels a running rollout on its engine (whose caller then gets the engine's 409), or one
   * held by a weight update, or forgets a finished one.
   */
  private void deleteRollout(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    Dispatch d = running.get(id);
    Reply cancelled = new Reply(200, bytes(JSON.createObjectNode().put("id", id).put("object", "rollout")
        .put("status", "cancelled")));
    if (d != null && d.engine != null) {
      String node = d.engine.node;
      vertx.eventBus().<Buffer>request(Bus.cancels(node), Buffer.buffer(id)).onComplete(ar -> send(ctx,
          ar.succeeded() ? new Reply(Integer.parseInt(ar.result().headers().get(Bus.STATUS)),
              ar.result().body().getBytes())
              : RolloutServer.errorReply(503, null, "engine " + node + " did not take the cancel; retry"), node));
    } else if (d != null && waiting.remove(d)) {
      d.done.complete(RolloutServer.errorReply(409, null, "cancelled (DELETE /v1/rollouts/{id}) before it started"));
      send(ctx, cancelled, null);
    } else if (finished.getIfPresent(id) != null) {
      finished.invalidate(id);
      send(ctx, new Reply(200, bytes(JSON.createObjectNode().put("id", id).put("object", "rollout")
          .put("status", "deleted"))), null);
    } else {
      send(ctx, RolloutServer.errorReply(404, "id", "no rollout " + id), null);
    }
  }

  // ---- Engines joining, reporting and leaving. ----

  private void onHeartbeat(JsonObject m) {
    String node = m.getString("node");
    long version = m.getLong("weight_version");
    EngineView e = engines.get(node);
    if (e == null) {
      e = new EngineView(node, m.getString("member"), m.getString("model"), version, m.getInteger("max_in_flight"));
      engines.put(node, e);
      log.info("engine {} joined: {} at weight version {} ({} engines)", node, e.model, version, engines.size());
    }
    e.lastSeenNanos = System.nanoTime();
    e.maxInFlight = m.getInteger("max_in_flight");
    e.weightVersion = Math.max(e.weightVersion, version); // a report sent before a swap may come after it
    if (updating) {
      return;
    }
    if (e.weightVersion > clusterVersion && lastUpdate == null) {
      // This router never updated the weights (it started after the update): the newest wins.
      log.info("weight version {} (reported by engine {})", e.weightVersion, node);
      clusterVersion = e.weightVersion;
    } else if (e.weightVersion != clusterVersion && !e.catchingUp && e.failedVersion != clusterVersion) {
      if (e.weightVersion < clusterVersion && lastUpdate != null) {
        catchUp(e);
      } else {
        e.failedVersion = clusterVersion;
        log.warn("engine {} serves weight version {}, the cluster {}: it gets no requests", node, e.weightVersion,
            clusterVersion);
      }
    }
  }

  private void catchUp(EngineView e) {
    e.catchingUp = true;
    long target = clusterVersion;
    log.info("engine {} is at weight version {}: sending it the update to {}", e.node, e.weightVersion, target);
    sendWeights(e, lastUpdate).whenComplete((reply, x) -> context.runOnContext(v -> {
      e.catchingUp = false;
      if (reply != null && reply.status() == 200) {
        e.weightVersion = Math.max(e.weightVersion, target);
      } else if (engines.get(e.node) == e) {
        e.failedVersion = target;
        log.warn("engine {} failed to load weight version {}: {}", e.node, target,
            reply == null ? x : new String(reply.body(), java.nio.charset.StandardCharsets.UTF_8));
      }
    }));
  }

  private void sweepSilent() {
    long now = System.nanoTime();
    for (EngineView e : List.copyOf(engines.values())) {
      if (now - e.lastSeenNanos > SILENT_MS * 1_000_000) {
        lost(e.node, "silent for " + (now - e.lastSeenNanos) / 1_000_000_000 + " s");
      }
    }
  }

  /** Takes an engine out and sends its unanswered requests elsewhere. */
  private void lost(String node, String why) {
    EngineView e = engines.remove(node);
    if (e == null) {
      return;
    }
    enginesLost++;
    metrics.engineLost();
    log.warn("engine {} {}: {} unanswered requests go to other engines", node, why, e.pending.size());
    List<Dispatch> orphans = List.copyOf(e.pending);
    e.pending.clear();
    for (Dispatch d : orphans) {
      d.engine = null;
      redispatch(d);
    }
  }

  // ---- Weights: a version barrier across every engine. ----

  /**
   * A weight update as an engine takes it: JSON fields with a path, or a safetensors file (the
   * fields then came in the query). The router keeps the last one, file included, for engines
   * that join later.
   */
  record WeightUpdate(ObjectNode fields, Buffer file) {}

  private void postWeights(RoutingContext ctx) {
    String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    boolean raw = type != null && type.split(";", 2)[0].trim().equalsIgnoreCase("application/octet-stream");
    ObjectNode body = raw ? RolloutServer.queryObject(ctx) : jsonObject(ctx);
    if (body == null) {
      return;
    }
    if (raw && (ctx.body().buffer() == null || ctx.body().buffer().length() == 0)) {
      send(ctx, RolloutServer.errorReply(400, "body", "empty; expected a safetensors file"), null);
      return;
    }
    if (updating) {
      send(ctx, RolloutServer.errorReply(409, null, "a weight update is in progress; retry when it answered"), null);
      return;
    }
    JsonNode v = body.get("version");
    long version = v == null ? clusterVersion + 1 : v.asLong(-1);
    if (v != null && (!v.canConvertToLong() || version <= clusterVersion)) {
      send(ctx, RolloutServer.errorReply(400, "version", "must be an integer above the cluster's version "
          + clusterVersion + ", got " + v), null);
      return;
    }
    List<EngineView> targets = List.copyOf(engines.values());
    if (targets.isEmpty()) {
      send(ctx, RolloutServer.errorReply(503, null, "no engine is in the cluster; retry"), null);
      return;
    }
    body.put("version", version);
    WeightUpdate update = new WeightUpdate(body, raw ? ctx.body().buffer() : null);
    updating = true;
    List<CompletableFuture<Reply>> replies = targets.stream().map(e -> sendWeights(e, update)).toList();
    CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).whenComplete((x, y) -> context.runOnContext(z -> {
      Reply failure = null;
      int ok = 0;
      for (int i = 0; i < targets.size(); i++) {
        Reply r = replies.get(i).join();
        if (r.status() == 200) {
          ok++;
          targets.get(i).weightVersion = Math.max(targets.get(i).weightVersion, version);
        } else {
          failure = failure == null ? r : failure;
          if (engines.get(targets.get(i).node) == targets.get(i)) {
            log.warn("engine {} refused weight version {}: {}", targets.get(i).node, version,
                new String(r.body(), java.nio.charset.StandardCharsets.UTF_8));
          }
        }
      }
      if (ok > 0) {
        clusterVersion = version;
        lastUpdate = update;
        send(ctx, new Reply(200, bytes(JSON.createObjectNode().put("object", "weights").put("weight_version", version)
            .put("engines", ok))), null);
      } else {
        send(ctx, failure, null);
      }
      updating = false;
      List<Dispatch> held = List.copyOf(waiting);
      waiting.clear();
      held.forEach(this::dispatch);
    }));
  }

  /** A weight update to one engine; never fails: a lost engine's reply is a 503. */
  private CompletableFuture<Reply> sendWeights(EngineView e, WeightUpdate update) {
    long timeoutMs = update.fields().path("timeout_s").asLong(600) * 1000 + TIMEOUT_MARGIN_MS;
    CompletableFuture<Reply> out = new CompletableFuture<>();
    DeliveryOptions o = new DeliveryOptions().setSendTimeout(timeoutMs);
    if (update.file() != null) {
      o.addHeader(Bus.FIELDS, update.fields().toString());
    }
    vertx.eventBus().<Buffer>request(Bus.weights(e.node), update.file() != null ? update.file()
        : Buffer.buffer(bytes(update.fields())), o).onComplete(ar -> out.complete(ar.succeeded()
            ? new Reply(Integer.parseInt(ar.result().headers().get(Bus.STATUS)), ar.result().body().getBytes())
            : RolloutServer.errorReply(503, null, "engine " + e.node + " did not take the update: "
                + ar.cause().getMessage())));
    return out;
  }

  // ---- Helpers. ----

  private ObjectNode clusterJson() {
    ObjectNode o = JSON.createObjectNode();
    o.put("weight_version", clusterVersion);
    o.put("updating", updating);
    ArrayNode es = o.putArray("engines");
    engines.values().stream().sorted(java.util.Comparator.comparing(e -> e.node)).forEach(e -> es.addObject()
        .put("node", e.node).put("model", e.model).put("weight_version", e.weightVersion)
        .put("serving", e.weightVersion == clusterVersion).put("in_flight", e.load()).put("routed", e.routed)
        .put("prefix_symbols", e.tree.size()));
    ObjectNode rs = o.putObject("routed");
    for (EngineSelector.Reason r : EngineSelector.Reason.values()) {
      rs.put(r.name().toLowerCase(java.util.Locale.ROOT), reasons.getOrDefault(r, 0L));
    }
    o.put("redispatched", redispatched);
    o.put("engines_lost", enginesLost);
    return o;
  }

  /** The body as a JSON object, or null after answering 4xx. */
  private ObjectNode jsonObject(RoutingContext ctx) {
    String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    if (type == null || !type.split(";", 2)[0].trim().equalsIgnoreCase("application/json")) {
      send(ctx, RolloutServer.errorReply(415, null, "expected Content-Type: application/json, got "
          + (type == null ? "none" : type)), null);
      return null;
    }
    try {
      JsonNode n = ctx.body().buffer() == null ? null : JSON.readTree(ctx.body().buffer().getBytes());
      if (n instanceof ObjectNode o) {
        return o;
      }
      send(ctx, RolloutServer.errorReply(400, null, "expected a JSON object"), null);
    } catch (IOException e) {
      send(ctx, RolloutServer.errorReply(400, null, "the body is not valid JSON: " + e.getMessage()), null);
    }
    return null;
  }

  private void send(RoutingContext ctx, Reply reply, String engine) {
    if (ctx.response().ended() || ctx.response().closed()) {
      return;
    }
    Long t0 = ctx.get("t0");
    if (t0 != null) {
      metrics.record(route(ctx), reply.status(), System.nanoTime() - t0);
    }
    if (engine != null) {
      ctx.response().putHeader(ENGINE_HEADER, engine);
    }
    if (reply.status() == 503 || reply.status() == 429) {
      ctx.response().putHeader(HttpHeaders.RETRY_AFTER, "1");
    }
    ctx.response().setStatusCode(reply.status()).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .end(Buffer.buffer(reply.body()));
  }

  private static byte[] bytes(JsonNode n) {
    try {
      return JSON.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    context.runOnContext(v -> {
      vertx.cancelTimer(sweeper);
      heartbeats.unregister();
      joined.manager().getHazelcastInstance().getCluster().removeMembershipListener(membership);
      running.values().forEach(d -> d.done.complete(RolloutServer.errorReply(503, null, "the router is closing")));
      List.copyOf(exchanges.values()).forEach(d -> d.done.complete(RolloutServer.errorReply(503, null,
          "the router is closing")));
      parts.unregister();
      http.close().onComplete(x -> done.complete(null));
    });
    done.orTimeout(1, TimeUnit.MINUTES).join();
  }
}
