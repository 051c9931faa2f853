package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.RewardedRollouts;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.RolloutStats;
import org.treeroll.export.ExportRow;
import org.treeroll.export.JsonlExporter;
import org.treeroll.reward.Reward;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;
import org.treeroll.viewer.TreeViewer;

/**
 * {@code POST /v1/rollouts} (a JSON answer or an NDJSON stream), {@code GET} and {@code DELETE
 * /v1/rollouts/{id}}, {@code GET /v1/rollouts/{id}/view} (docs/http-api.md). A rollout is
 * tracked by id while it runs, so that {@code DELETE} cancels it and frees its pages at the next
 * step boundary, and kept for a while once finished (a Caffeine cache with expiry and a size
 * bound). A client that disconnects cancels its rollout; so does the request timeout.
 */
final class RolloutEndpoints {
  private static final com.fasterxml.jackson.databind.ObjectMapper JSON = RolloutServer.JSON;

  private final RolloutServer server;
  private final Vertx vertx;
  private final InferenceSession session;
  private final ServerOptions options;
  private final ServerMetrics metrics;
  private final String modelName;
  private final Map<String, CompletableFuture<?>> running = new ConcurrentHashMap<>();
  private final Cache<String, ObjectNode> finished;

  RolloutEndpoints(RolloutServer server, Vertx vertx, InferenceSession session, ServerOptions options,
      ServerMetrics metrics, String modelName) {
    this.server = server;
    this.vertx = vertx;
    this.session = session;
    this.options = options;
    this.metrics = metrics;
    this.modelName = modelName;
    this.finished = Caffeine.newBuilder().expireAfterWrite(options.resultTtl()).maximumSize(options.maxResults()).build();
  }

  void register(Router r) {
    r.post("/v1/rollouts").handler(this::postRollout);
    r.get("/v1/rollouts/:id").handler(this::getRollout);
    r.get("/v1/rollouts/:id/view").handler(this::viewRollout);
    r.delete("/v1/rollouts/:id").handler(this::deleteRollout);
  }

  /** Cancels every rollout still running (the server is closing). */
  void cancelAll() {
    running.values().forEach(f -> f.cancel(true));
  }


  private void postRollout(RoutingContext ctx) {
    server.guarded(ctx, () -> {
      RolloutRequest req = RolloutRequest.parse(server.jsonBody(ctx), session.model(), server.chat, options,
          "ro-" + UUID.randomUUID(), vertx);
      if (running.containsKey(req.id()) || finished.getIfPresent(req.id()) != null) {
        req.close();
        throw new ApiError(409, "id", "a rollout with id " + req.id() + " exists; choose another");
      }
      try {
        server.admit();
      } catch (ApiError e) {
        req.close();
        throw e;
      }
      startRollout(ctx, req);
    });
  }

  private void startRollout(RoutingContext ctx, RolloutRequest req) {
    Context loop = vertx.getOrCreateContext();
    HttpServerResponse res = ctx.response();
    AtomicBoolean over = new AtomicBoolean();
    if (req.stream()) {
      res.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, "application/x-ndjson");
    }
    CompletableFuture<ObjectNode> result = launch(req, new Events(loop, res, req.stream(), req.sampling().stop()));
    res.closeHandler(v -> {
      if (!over.get()) {
        result.cancel(true); // the client went away: free its pages
      }
    });
    result.whenComplete((body, e) -> {
      over.set(true);
      loop.runOnContext(v -> {
        if (e != null) {
          server.fail(ctx, server.asApiError(e));
        } else if (req.stream()) {
          ObjectNode done = JSON.createObjectNode().put("event", "done");
          done.setAll(body);
          done.remove("trees"); // each came as its own event
          res.end(server.line(done));
          metrics.record("/v1/rollouts", 200, System.nanoTime() - (long) ctx.get("t0"));
        } else {
          server.sendJson(ctx, 200, body);
        }
      });
    });
  }

  /**
   * A rollout sent by a cluster router (no stream). Idempotent by id: a router that lost an
   * engine sends the same request again elsewhere, and a repeat here gets the running or the
   * finished rollout instead of a 409.
   */
  CompletableFuture<ObjectNode> submit(com.fasterxml.jackson.databind.JsonNode body) {
    RolloutRequest req = RolloutRequest.parse(body, session.model(), server.chat, options, "ro-" + UUID.randomUUID(),
        vertx);
    ObjectNode done = finished.getIfPresent(req.id());
    @SuppressWarnings("unchecked")
    CompletableFuture<ObjectNode> run = (CompletableFuture<ObjectNode>) running.get(req.id());
    if (done != null || run != null) {
      req.close();
      return done != null ? CompletableFuture.completedFuture(done) : run;
    }
    if (req.stream()) {
      req.close();
      throw ApiError.badRequest("stream", "a router relays streams to the HTTP API (docs/scale-out.md), not as one"
          + " bus request");
    }
    try {
      server.admit();
    } catch (ApiError e) {
      req.close();
      throw e;
    }
    return launch(req, new Events(vertx.getOrCreateContext(), null, false, req.sampling().stop()));
  }

  /**
   * Starts the engine request: tracked by id while it runs, cancelled past the request timeout,
   * kept in {@code finished} once done; its admission place is given back at the end.
   */
  private CompletableFuture<ObjectNode> launch(RolloutRequest req, Events events) {
    CompletableFuture<ObjectNode> result;
    try {
      result = req.reward() == null ? plainRollout(req, events) : rewardedRollout(req, events);
    } catch (RuntimeException e) {
      server.release();
      req.close();
      throw e;
    }
    running.put(req.id(), result);
    long timer = vertx.setTimer(options.requestTimeout().toMillis(), t -> {
      // Failing the result cancels the engine request (see linked).
      result.completeExceptionally(new ApiError(504, null, "timed out after "
          + options.requestTimeout().toSeconds() + " s; the rollout was cancelled"));
    });
    // Completes after the bookkeeping, so that a caller answered can read the rollout by id;
    // cancelling or failing it cancels the engine request.
    CompletableFuture<ObjectNode> tracked = new CompletableFuture<>();
    result.whenComplete((body, e) -> {
      vertx.cancelTimer(timer);
      if (body != null) {
        finished.put(req.id(), body); // before it leaves running: its id is never free in between
      }
      running.remove(req.id());
      server.release();
      req.close();
      if (e != null) {
        tracked.completeExceptionally(e);
      } else {
        tracked.complete(body);
      }
    });
    tracked.whenComplete((body, e) -> {
      if (e != null) {
        result.completeExceptionally(e);
      }
    });
    return tracked;
  }

  /** Trees only: no reward, no advantages. */
  private CompletableFuture<ObjectNode> plainRollout(RolloutRequest req, Events events) {
    RolloutStats[] stats = new RolloutStats[1];
    RolloutHooks hooks = new RolloutHooks() {
      @Override
      public void leafFinished(RolloutTree tree, SegmentNode leaf) {
        events.answer(tree, leaf, null);
      }

      @Override
      public void treeFinished(RolloutTree tree) {
        events.tree(tree);
      }

      @Override
      public void rolloutFinished(RolloutStats s) {
        stats[0] = s;
      }
    };
    long t0 = System.nanoTime();
    CompletableFuture<List<RolloutTree>> trees = session.rollout(req.prompts(), req.tree(), req.sampling(), hooks);
    return linked(trees, t -> rolloutJson(req, t, null, null, stats[0], (System.nanoTime() - t0) / 1e9));
  }

  private CompletableFuture<ObjectNode> rewardedRollout(RolloutRequest req, Events events) {
    RewardedRollouts rollouts = new RewardedRollouts(session, req.reward(), req.estimator());
    CompletableFuture<RewardedRollouts.Result> run = rollouts.start(req.prompts(), 0, req.problems(), req.tree(),
        req.sampling(), new RewardedRollouts.Listener() {
          @Override
          public void answerScored(RolloutTree tree, SegmentNode leaf, Reward reward) {
            events.answer(tree, leaf, reward);
          }

          @Override
          public void treeFinished(RolloutTree tree) {
            events.tree(tree);
          }
        });
    return linked(run, r -> rolloutJson(req, r.trees(), r, r.advantages(), r.stats(), r.seconds()));
  }

  /**
   * {@code source} mapped by {@code render}; cancelling or failing the result cancels
   * {@code source} (the engine request).
   */
  static <T> CompletableFuture<ObjectNode> linked(CompletableFuture<T> source, Function<T, ObjectNode> render) {
    CompletableFuture<ObjectNode> out = new CompletableFuture<>();
    source.whenComplete((v, e) -> {
      if (e != null) {
        out.completeExceptionally(e);
      } else {
        try {
          out.complete(render.apply(v));
        } catch (RuntimeException x) {
          out.completeExceptionally(x);
        }
      }
    });
    out.whenComplete((v, e) -> {
      if (e != null) {
        source.cancel(true);
      }
    });
    return out;
  }

  private ObjectNode rolloutJson(RolloutRequest req, List<RolloutTree> trees, RewardedRollouts.Result rewarded,
      BatchAdvantages advantages, RolloutStats stats, double seconds) {
    ObjectNode o = JSON.createObjectNode();
    o.put("id", req.id());
    o.put("object", "rollout");
    o.put("status", "completed");
    o.put("model", modelName);
    o.put("weight_version", trees.isEmpty() ? 0 : trees.get(0).weightVersion());
    ArrayNode ts = o.putArray("trees");
    trees.forEach(t -> ts.add(TreeDump.toJson(t)));
    if (rewarded != null) {
      ObjectNode r = o.putObject("rewards");
      r.put("scored", rewarded.rewards().scored());
      r.put("errors", rewarded.rewards().errors());
      if (Double.isFinite(rewarded.rewards().meanReward())) {
        r.put("mean_reward", rewarded.rewards().meanReward());
      } else {
        r.putNull("mean_reward");
      }
      r.put("first_error", rewarded.rewards().firstError());
      o.put("estimator", advantages.estimator());
      ArrayNode rows = o.putArray("advantages");
      ExportRow.of(advantages).forEach(row -> rows.add(JsonlExporter.toJson(row)));
    }
    ObjectNode s = o.putObject("stats");
    if (stats != null) {
      s.put("computed_tokens", stats.computedTokens());
      s.put("cache_hit_tokens", stats.cacheHitTokens());
      s.put("suspensions", stats.suspensions());
      s.put("refills", stats.refills());
      s.put("forward_steps", stats.forwardSteps());
    }
    s.put("answers", trees.stream().mapToInt(t -> t.leaves().size()).sum());
    s.put("seconds", seconds);
    return o;
  }

  /** Stream events (NDJSON lines), written on the request's event loop. */
  private final class Events {
    private final Context loop;
    private final HttpServerResponse res;
    private final boolean on;
    private final org.treeroll.engine.sampling.StopStrings stop;

    Events(Context loop, HttpServerResponse res, boolean on, org.treeroll.engine.sampling.StopStrings stop) {
      this.loop = loop;
      this.res = res;
      this.on = on;
      this.stop = stop;
    }

    /** An answer ended (and, with a reward, was scored). Called on the engine's thread. */
    void answer(RolloutTree tree, SegmentNode leaf, Reward reward) {
      if (!on) {
        return;
      }
      ObjectNode e = JSON.createObjectNode();
      e.put("event", "answer");
      e.put("tree_id", tree.id());
      ArrayNode tokens = e.putArray("tokens");
      for (int t : RolloutTree.responseTokens(leaf)) {
        tokens.add(t);
      }
      e.put("text", stop.cut(session.model().tokenizer().decode(RolloutTree.responseTokens(leaf), true)));
      ArrayNode lps = e.putArray("logprobs");
      for (float lp : RolloutTree.responseLogProbs(leaf)) {
        lps.add(lp);
      }
      e.put("finish_reason", leaf.finishReason() == null ? null
          : leaf.finishReason().name().toLowerCase(java.util.Locale.ROOT));
      if (reward != null) {
        if (reward.ok()) {
          e.put("reward", reward.value());
        } else {
          e.putNull("reward");
          e.put("reward_error", reward.error());
        }
      }
      send(e);
    }

    /** A tree is done and numbered for good. Called on the engine's thread. */
    void tree(RolloutTree tree) {
      if (on) {
        ObjectNode e = JSON.createObjectNode();
        e.put("event", "tree");
        e.set("tree", TreeDump.toJson(tree));
        send(e);
      }
    }

    private void send(ObjectNode e) {
      Buffer b = server.line(e);
      loop.runOnContext(v -> {
        if (!res.ended() && !res.closed()) {
          res.write(b);
        }
      });
    }
  }

  private void getRollout(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    ObjectNode done = finished.getIfPresent(id);
    if (done != null) {
      server.sendJson(ctx, 200, done);
    } else if (running.containsKey(id)) {
      server.sendJson(ctx, 202, JSON.createObjectNode().put("id", id).put("object", "rollout").put("status", "running"));
    } else {
      server.fail(ctx, new ApiError(404, "id", "no rollout " + id + " (finished ones are kept "
          + options.resultTtl().toMinutes() + " minutes)"));
    }
  }

  /** A finished rollout drawn by the tree viewer: the page {@code treeroll view} writes for a dump. */
  private void viewRollout(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    ObjectNode done = finished.getIfPresent(id);
    if (done == null) {
      server.fail(ctx, running.containsKey(id)
          ? new ApiError(409, "id", "rollout " + id + " is still running; its page is there once it finishes")
          : new ApiError(404, "id", "no rollout " + id + " (finished ones are kept " + options.resultTtl().toMinutes()
              + " minutes)"));
      return;
    }
    Context loop = vertx.getOrCreateContext();
    // Decoding every token of every tree is not for the event loop.
    vertx.executeBlocking(() -> viewPage(id, done), false).onComplete(page -> loop.runOnContext(v -> {
      if (page.failed()) {
        server.fail(ctx, RolloutServer.asApiError(page.cause()));
        return;
      }
      ctx.response().setStatusCode(200).putHeader(HttpHeaders.CONTENT_TYPE, "text/html; charset=utf-8").end(page.result());
      metrics.record("/v1/rollouts/:id/view", 200, System.nanoTime() - (long) ctx.get("t0"));
    }));
  }

  private String viewPage(String id, ObjectNode done) {
    List<RolloutTree> trees = new ArrayList<>();
    for (JsonNode t : done.path("trees")) {
      trees.add(TreeDump.fromJson(t, "rollout " + id + " tree " + trees.size()));
    }
    // The rollout's own estimator first, then every other one for comparison.
    List<String> specs = new ArrayList<>();
    if (done.hasNonNull("estimator")) {
      specs.add(done.get("estimator").asText());
    }
    AdvantageEstimators.names().stream().sorted()
        .filter(n -> specs.isEmpty() || !specs.get(0).split(":", 2)[0].equals(n)).forEach(specs::add);
    return TreeViewer.page(id, trees, session.model().tokenizer(), modelName,
        specs.stream().map(AdvantageEstimators::create).toList());
  }

  private void deleteRollout(RoutingContext ctx) {
    try {
      server.sendJson(ctx, 200, delete(ctx.pathParam("id")));
    } catch (ApiError e) {
      server.fail(ctx, e);
    }
  }

  /** Cancels a running rollout or forgets a finished one; 404 if there is neither. */
  ObjectNode delete(String id) {
    CompletableFuture<?> f = running.get(id);
    if (f != null) {
      f.cancel(true); // the engine frees its pages at its next step boundary
      return JSON.createObjectNode().put("id", id).put("object", "rollout").put("status", "cancelled");
    } else if (finished.getIfPresent(id) != null) {
      finished.invalidate(id);
      return JSON.createObjectNode().put("id", id).put("object", "rollout").put("status", "deleted");
    }
    throw new ApiError(404, "id", "no rollout " + id);
  }
}
