package org.treeroll.server;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.scheduler.WeightSwapPolicy;
import org.treeroll.tree.TreeRollException;

/**
 * The HTTP API over one engine (docs/http-api.md): cross-cutting concerns (the key, errors,
 * admission, body checks) and the small endpoints; rollouts live in {@link RolloutEndpoints}, the
 * OpenAI-compatible ones in {@link OpenAiEndpoints}. Handlers run on Vert.x event loops and never
 * block them: every engine call returns a future, and answers are built off the event loop.
 */
public final class RolloutServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RolloutServer.class);
  // A body is one JSON value with each key once: trailing text or a repeated key is refused, not
  // silently cut off or resolved last-wins.
  static final ObjectMapper JSON = JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
  private static final Set<String> WEIGHT_FIELDS = Set.of("path", "policy", "timeout_s", "version");

  private final Vertx vertx;
  private final InferenceSession session;
  private final ServerOptions options;
  private final String modelName;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final RolloutEndpoints rollouts;
  private final ServerMetrics metrics;
  final ChatTemplate chat; // the model's own chat template, or the fallback
  private final Router router;
  private HttpServer server;

  private RolloutServer(Vertx vertx, InferenceSession session, ServerOptions options) {
    this.vertx = vertx;
    this.session = session;
    this.options = options;
    this.modelName = session.model().dir().getFileName().toString();
    this.metrics = new ServerMetrics(session, inFlight);
    this.chat = ChatTemplate.of(session.model().tokenizer().special());
    this.rollouts = new RolloutEndpoints(this, vertx, session, options, metrics, modelName);
    this.router = routes();
  }

  /** Starts listening; returns once the port is bound. */
  public static RolloutServer start(Vertx vertx, InferenceSession session, ServerOptions options) {
    RolloutServer s = new RolloutServer(vertx, session, options);
    s.server = await(vertx.createHttpServer(new HttpServerOptions().setHost(options.host()).setPort(options.port())
        .setCompressionSupported(true)).requestHandler(s.router).invalidRequestHandler(RolloutServer::onInvalidRequest)
        .listen());
    log.info("serving {} on http://{}:{}{}", s.modelName, options.host(), s.server.actualPort(),
        options.apiKey() == null ? "" : " (API key required)");
    return s;
  }

  public int port() {
    return server.actualPort();
  }

  /** The routes this server answers, as {@code METHOD /path} (the OpenAPI document lists the same). */
  List<String> routeList() {
    return router.getRoutes().stream().filter(r -> r.getPath() != null && r.methods() != null)
        .flatMap(r -> r.methods().stream().map(m -> m.name() + " " + r.getPath())).sorted().toList();
  }

  @Override
  public void close() {
    if (server != null) {
      await(server.close());
      server = null;
    }
    rollouts.cancelAll();
  }

  private Router routes() {
    Router r = Router.router(vertx);
    r.route().handler(this::authenticate);
    r.route().handler(BodyHandler.create().setBodyLimit(options.maxBodyBytes()).setHandleFileUploads(false));
    rollouts.register(r);
    r.post("/v1/weights").handler(this::postWeights);
    r.get("/v1/models").handler(this::getModels);
    r.get("/health").handler(this::getHealth);
    r.get("/metrics").handler(this::getMetrics);
    r.get("/openapi.json").handler(this::getOpenApi);
    new OpenAiEndpoints(this, vertx, session, options, metrics, modelName).register(r);
    r.route().last().handler(ctx -> fail(ctx, new ApiError(404, null, "no route " + ctx.request().method() + " "
        + ctx.request().path())));
    r.route().failureHandler(this::onFailure);
    return r;
  }

  // ---- Cross-cutting: key, errors, admission. ----

  private void authenticate(RoutingContext ctx) {
    ctx.put("t0", System.nanoTime());
    if (options.apiKey() == null || ctx.request().path().equals("/health")) {
      ctx.next();
      return;
    }
    if (!carriesKey(ctx, options.apiKey())) {
      fail(ctx, new ApiError(401, null, KEY_REQUIRED));
      return;
    }
    ctx.next();
  }

  /** The message of a 401. */
  public static final String KEY_REQUIRED = "a valid API key is required: send Authorization: Bearer <key>";

  /** Whether the request carries {@code Authorization: Bearer <key>} (compared in constant time). */
  public static boolean carriesKey(RoutingContext ctx, String key) {
    String h = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
    byte[] given = h != null && h.startsWith("Bearer ") ? h.substring(7).getBytes(StandardCharsets.UTF_8) : new byte[0];
    return MessageDigest.isEqual(given, key.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A request the HTTP codec refused before routing: a request line or headers over Vert.x's
   * limits are answered in the error shape too (the default answers them with an empty body).
   */
  private static void onInvalidRequest(HttpServerRequest req) {
    Throwable cause = req.decoderResult().cause();
    ApiError e = cause instanceof TooLongHttpLineException
        ? new ApiError(414, null, "the request line is longer than " + HttpServerOptions.DEFAULT_MAX_INITIAL_LINE_LENGTH
            + " bytes")
        : cause instanceof TooLongHttpHeaderException
            ? new ApiError(431, null, "the request headers are larger than " + HttpServerOptions.DEFAULT_MAX_HEADER_SIZE
                + " bytes")
            : null;
    if (e == null) {
      HttpServerRequest.DEFAULT_INVALID_REQUEST_HANDLER.handle(req);
      return;
    }
    req.response().setStatusCode(e.status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .putHeader(HttpHeaders.CONNECTION, "close").end(Buffer.buffer(bytes(e.toJson())));
  }

  /** Vert.x failures (a body over the limit, a handler that threw) as JSON errors. */
  private void onFailure(RoutingContext ctx) {
    Throwable t = ctx.failure();
    if (t instanceof ApiError e) {
      fail(ctx, e);
    } else if (ctx.statusCode() == 413) {
      fail(ctx, new ApiError(413, null, "the body is larger than " + options.maxBodyBytes() + " bytes"));
    } else if (ctx.statusCode() >= 400 && ctx.statusCode() < 500) {
      fail(ctx, new ApiError(ctx.statusCode(), null, "bad request"));
    } else {
      log.error("request {} {} failed", ctx.request().method(), ctx.request().path(), t);
      fail(ctx, new ApiError(500, null, "internal error; the server log has the details"));
    }
  }

  void fail(RoutingContext ctx, ApiError e) {
    if (e.status == 429) {
      ctx.response().putHeader(HttpHeaders.RETRY_AFTER, "1");
    }
    if (e.status == 401) {
      ctx.response().putHeader("WWW-Authenticate", "Bearer");
    }
    sendJson(ctx, e.status, e.toJson());
  }

  void sendJson(RoutingContext ctx, int status, JsonNode body) {
    HttpServerResponse res = ctx.response();
    if (res.ended() || res.closed()) {
      return;
    }
    if (res.headWritten()) { // a stream: the error is its last event
      res.end(line(body));
      return;
    }
    res.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(Buffer.buffer(bytes(body)));
    Long t0 = ctx.get("t0");
    String route = ctx.currentRoute() == null || ctx.currentRoute().getPath() == null ? "other" : ctx.currentRoute().getPath();
    metrics.record(route, status, t0 == null ? 0 : System.nanoTime() - t0);
  }

  /** The media type of a Content-Type header, lower case and without parameters; null for none. */
  private static String mediaType(RoutingContext ctx) {
    String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    return type == null ? null : type.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
  }

  /** The JSON body of a request; an empty, non-JSON or malformed body is refused. */
  static JsonNode jsonBody(RoutingContext ctx) {
    if (!"application/json".equals(mediaType(ctx))) {
      String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
      throw new ApiError(415, null, "expected Content-Type: application/json, got " + (type == null ? "none" : type));
    }
    Buffer body = ctx.body().buffer();
    if (body == null || body.length() == 0) {
      throw ApiError.badRequest(null, "the body is empty; expected a JSON object");
    }
    byte[] bytes = body.getBytes();
    requireUtf8(bytes);
    try {
      JsonNode n = JSON.readTree(bytes);
      if (n == null || n.isMissingNode()) {
        throw ApiError.badRequest(null, "the body is empty; expected a JSON object");
      }
      return n;
    } catch (JacksonException e) {
      throw ApiError.badRequest(null, "the body is not valid JSON: " + jsonReason(e));
    } catch (IOException e) {
      throw ApiError.badRequest(null, "the body cannot be read: " + e.getMessage());
    }
  }

  /** Refuses a body that is not UTF-8, as JSON must be: Jackson alone lets overlong forms through. */
  private static void requireUtf8(byte[] bytes) {
    CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder(); // reports malformed input
    ByteBuffer in = ByteBuffer.wrap(bytes);
    CharBuffer out = CharBuffer.allocate(8192);
    for (CoderResult r = utf8.decode(in, out, true); !r.isUnderflow(); r = utf8.decode(in, out, true)) {
      if (r.isError()) {
        throw ApiError.badRequest(null, "the body is not valid UTF-8 at byte " + in.position());
      }
      out.clear(); // only validity matters, not the characters
    }
  }

  /**
   * Jackson's reason and where, less its hints at Java settings and classes (a client can enable
   * no parser feature; the names mean nothing to it).
   */
  static String jsonReason(JacksonException e) {
    String m = String.valueOf(e.getOriginalMessage()).replaceAll("\\s*\\(start marker at \\[[^\\]]*\\]\\)", "");
    int java = -1;
    for (String mark : List.of("`", "Feature '", "[Source:")) {
      int i = m.indexOf(mark);
      java = i >= 0 && (java < 0 || i < java) ? i : java;
    }
    if (java >= 0) { // cut the clause that holds it: "... (bound as `...`)" or "...: enable `...` to allow"
      int cut = Math.max(m.lastIndexOf(" (", java), m.lastIndexOf(": ", java));
      m = m.substring(0, cut > 0 ? cut : java).trim();
    }
    JsonLocation at = e.getLocation();
    return at == null || at.getLineNr() < 1 ? m : m + " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
  }

  /** Takes a place among the requests in flight, or refuses with 429. */
  void admit() {
    if (inFlight.incrementAndGet() > options.maxInFlight()) {
      inFlight.decrementAndGet();
      throw new ApiError(429, null, options.maxInFlight() + " requests are in flight; retry later");
    }
  }

  /** Gives back the place {@link #admit} took. */
  void release() {
    inFlight.decrementAndGet();
  }

  /** Runs {@code handler}, answering an {@link ApiError} or a {@link TreeRollException} as a 4xx. */
  void guarded(RoutingContext ctx, Runnable handler) {
    try {
      handler.run();
    } catch (ApiError e) {
      fail(ctx, e);
    } catch (TreeRollException e) {
      fail(ctx, ApiError.badRequest(null, e.getMessage()));
    }
  }

  // ---- Weights, models, health, metrics, the API description. ----

  private void postWeights(RoutingContext ctx) {
    guarded(ctx, () -> {
      boolean raw = "application/octet-stream".equals(mediaType(ctx));
      JsonFields f = raw ? JsonFields.of(queryObject(ctx), "", WEIGHT_FIELDS)
          : JsonFields.of(jsonBody(ctx), "", WEIGHT_FIELDS);
      WeightSwapPolicy policy = weightPolicy(f);
      Context loop = vertx.getOrCreateContext();
      CompletableFuture<Long> update = raw ? weightsFromBody(ctx.body().buffer(), policy) : weightsFromPath(f, policy);
      update.whenComplete((v, e) -> loop.runOnContext(x -> {
        if (e != null) {
          fail(ctx, weightError(e, raw ? "body" : "path"));
        } else {
          sendJson(ctx, 200, weightsJson(v));
        }
      }));
    });
  }

  /** A safetensors file sent as the body: written to a temporary file, loaded, and deleted. */
  private CompletableFuture<Long> weightsFromBody(Buffer body, WeightSwapPolicy policy) {
    if (body == null || body.length() == 0) {
      throw ApiError.badRequest("body", "empty; expected a safetensors file");
    }
    return vertx.executeBlocking(() -> {
      Path tmp = Files.createTempFile("treeroll-weights", ".safetensors");
      Files.write(tmp, body.getBytes());
      return tmp;
    }, false).toCompletionStage().toCompletableFuture().thenCompose(tmp -> {
      CompletableFuture<Long> u;
      try {
        u = session.updateWeights(WeightUpdate.fromSafetensors(List.of(tmp)), policy);
      } catch (RuntimeException e) {
        u = CompletableFuture.failedFuture(e);
      }
      return u.whenComplete((v, e) -> tmp.toFile().delete());
    });
  }

  private CompletableFuture<Long> weightsFromPath(JsonFields f, WeightSwapPolicy policy) {
    String path = f.string("path", null, 4096);
    if (path == null) {
      throw ApiError.badRequest("path", "required: a HF model directory or a .safetensors file on the server");
    }
    Path p;
    try {
      p = Path.of(path);
    } catch (InvalidPathException e) {
      throw ApiError.badRequest("path", "not a valid path: " + e.getReason());
    }
    return vertx.executeBlocking(() -> Files.isDirectory(p) ? WeightUpdate.fromDirectory(p)
        : WeightUpdate.fromSafetensors(List.of(p)), false).toCompletionStage().toCompletableFuture()
        .thenCompose(u -> session.updateWeights(u, policy));
  }

  private static ApiError weightError(Throwable e, String param) {
    ApiError err = asApiError(e);
    return err.status == 500 ? err : new ApiError(err.status, param, err.getMessage());
  }

  private static ObjectNode weightsJson(long version) {
    return JSON.createObjectNode().put("object", "weights").put("weight_version", version);
  }

  // ---- The same requests from a cluster router (org.treeroll.server.cluster), without HTTP. ----

  /**
   * An answer to a request that came over the cluster's event bus: the HTTP status and the JSON
   * body this server would have answered.
   */
  public record Reply(int status, byte[] body) {}

  /** {@code POST /v1/rollouts} without a stream; idempotent by the request's id. */
  public CompletableFuture<Reply> submitRollout(byte[] body) {
    return answer(() -> rollouts.submit(parse(body)).thenApply(o -> new Reply(200, bytes(o))));
  }

  /** {@code DELETE /v1/rollouts/{id}}. */
  public CompletableFuture<Reply> cancelRollout(byte[] id) {
    return answer(() -> CompletableFuture.completedFuture(
        new Reply(200, bytes(rollouts.delete(new String(id, StandardCharsets.UTF_8))))));
  }

  /** {@code POST /v1/weights} by path; the reply's {@code weight_version} is the version now serving. */
  public CompletableFuture<Reply> submitWeights(byte[] body) {
    return answer(() -> {
      JsonFields f = JsonFields.of(parse(body), "", WEIGHT_FIELDS);
      return weightReply(weightsFromPath(f, weightPolicy(f)), "path");
    });
  }

  /**
   * {@code POST /v1/weights} with a safetensors file as the body; {@code fields} is a JSON object
   * of the query's fields (policy, timeout_s, version).
   */
  public CompletableFuture<Reply> submitWeights(Buffer safetensors, byte[] fields) {
    return answer(() -> {
      JsonFields f = JsonFields.of(parse(fields), "", WEIGHT_FIELDS);
      return weightReply(weightsFromBody(safetensors, weightPolicy(f)), "body");
    });
  }

  private static CompletableFuture<Reply> weightReply(CompletableFuture<Long> update, String param) {
    return update.handle((v, e) -> e != null ? error(weightError(e, param)) : new Reply(200, bytes(weightsJson(v))));
  }

  /** What an engine node tells the cluster about itself. */
  public record Load(long weightVersion, int inFlight, int maxInFlight) {}

  public CompletableFuture<Load> load() {
    return session.stats().thenApply(s -> new Load(s.weightVersion(), inFlight.get(), options.maxInFlight()));
  }

  public String modelName() {
    return modelName;
  }

  private static JsonNode parse(byte[] body) {
    requireUtf8(body);
    try {
      return JSON.readTree(body);
    } catch (IOException e) {
      throw ApiError.badRequest(null, "the body is not valid JSON: " + e.getMessage());
    }
  }

  private static CompletableFuture<Reply> answer(java.util.function.Supplier<CompletableFuture<Reply>> call) {
    try {
      return call.get().exceptionally(e -> error(asApiError(e)));
    } catch (ApiError e) {
      return CompletableFuture.completedFuture(error(e));
    } catch (TreeRollException e) {
      return CompletableFuture.completedFuture(error(ApiError.badRequest(null, e.getMessage())));
    }
  }

  /** An error answered in the API's shape (docs/http-api.md, "Errors"). */
  public static Reply errorReply(int status, String param, String message) {
    return error(new ApiError(status, param, message));
  }

  private static Reply error(ApiError e) {
    return new Reply(e.status, bytes(e.toJson()));
  }

  /** The query's fields as a JSON object (integers as numbers), less {@code path}: the weights come in the body. */
  public static ObjectNode queryObject(RoutingContext ctx) {
    ObjectNode o = JSON.createObjectNode();
    for (Map.Entry<String, String> q : ctx.queryParams()) {
      String v = q.getValue();
      if (v.matches("-?\\d{1,18}")) {
        o.put(q.getKey(), Long.parseLong(v));
      } else {
        o.put(q.getKey(), v);
      }
    }
    o.remove("path");
    return o;
  }

  private static WeightSwapPolicy weightPolicy(JsonFields f) {
    String mode = f.string("policy", "wait", 16);
    WeightSwapPolicy p = switch (mode) {
      case "wait" -> WeightSwapPolicy.waitForRequests();
      case "abort" -> WeightSwapPolicy.abortRequests();
      default -> throw ApiError.badRequest("policy", "expected \"wait\" or \"abort\", got \"" + mode + "\"");
    };
    p = p.withTimeout(Duration.ofSeconds(f.integer("timeout_s", 600, 1, 86_400)));
    long version = f.longValue("version", -1);
    if (version < -1) {
      throw ApiError.badRequest("version", "must be >= 0, got " + version);
    }
    return p.withVersion(version);
  }

  private void getModels(RoutingContext ctx) {
    ObjectNode o = JSON.createObjectNode().put("object", "list");
    o.putArray("data").addObject().put("id", modelName).put("object", "model").put("created", 0)
        .put("owned_by", "treeroll").put("max_model_len", session.model().config().maxPositionEmbeddings());
    sendJson(ctx, 200, o);
  }

  private void getHealth(RoutingContext ctx) {
    Context loop = vertx.getOrCreateContext();
    session.stats().whenComplete((s, e) -> loop.runOnContext(v -> {
      if (e != null) {
        fail(ctx, new ApiError(503, null, "the engine does not answer: " + e.getMessage()));
      } else {
        sendJson(ctx, 200, JSON.createObjectNode().put("status", "ok").put("model", modelName)
            .put("weight_version", s.weightVersion()).put("requests_in_flight", inFlight.get()));
      }
    }));
  }

  private void getMetrics(RoutingContext ctx) {
    Context loop = vertx.getOrCreateContext();
    metrics.scrape().whenComplete((text, e) -> loop.runOnContext(v -> {
      if (e != null) {
        fail(ctx, new ApiError(503, null, "the engine does not answer: " + e.getMessage()));
      } else {
        ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8").end(text);
      }
    }));
  }

  private void getOpenApi(RoutingContext ctx) {
    ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(Buffer.buffer(openApi()));
  }

  static byte[] openApi() {
    try (InputStream in = RolloutServer.class.getResourceAsStream("openapi.json")) {
      return in.readAllBytes();
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("openapi.json is missing from the build", e);
    }
  }

  // ---- Helpers. ----

  static ApiError asApiError(Throwable e) {
    Throwable t = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    if (t instanceof ApiError a) {
      return a;
    }
    if (t instanceof CancellationException) {
      return new ApiError(409, null, "cancelled (DELETE /v1/rollouts/{id}, or the client went away)");
    }
    if (t instanceof TreeRollException x) {
      return x.getMessage() != null && x.getMessage().startsWith("aborted: the weights")
          ? new ApiError(503, null, x.getMessage() + "; retry") : ApiError.badRequest(null, x.getMessage());
    }
    log.error("request failed", t);
    return new ApiError(500, null, "internal error; the server log has the details");
  }

  static Buffer line(JsonNode n) {
    return Buffer.buffer(bytes(n)).appendByte((byte) '\n');
  }

  private static byte[] bytes(JsonNode n) {
    try {
      return JSON.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static <T> T await(io.vertx.core.Future<T> f) {
    try {
      return f.toCompletionStage().toCompletableFuture().get(1, TimeUnit.MINUTES);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new TreeRollException("cannot start the server: " + e.getCause().getMessage(), e.getCause());
    } catch (Exception e) {
      throw new TreeRollException("cannot start the server: " + e.getMessage(), e);
    }
  }
}
