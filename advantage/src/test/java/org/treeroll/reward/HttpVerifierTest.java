package org.treeroll.reward;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Against a real verifier: a Vert.x HTTP server on 127.0.0.1 whose routes misbehave on purpose. */
class HttpVerifierTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final RewardRequest REQUEST = new RewardRequest("2+2?", "Answer: 4\n", "4");

  private static Vertx serverVertx;
  private static HttpServer server;
  private static final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
  private static final Map<String, JsonNode> lastBody = new ConcurrentHashMap<>();

  private final List<HttpVerifier> verifiers = new java.util.ArrayList<>();

  @BeforeAll
  static void startServer() throws Exception {
    serverVertx = Vertx.vertx();
    Router router = Router.router(serverVertx);
    router.route().handler(BodyHandler.create());
    router.post("/ok").handler(ctx -> {
      JsonNode body = read(ctx);
      boolean right = body.get("response").asText().contains(body.get("reference").asText());
      json(ctx, 200, "{\"reward\": " + (right ? 1 : 0) + "}");
    });
    router.post("/flaky").handler(ctx -> {
      int n = read(ctx, "/flaky");
      json(ctx, n <= 2 ? 500 : 200, n <= 2 ? "{\"error\": \"warming up\"}" : "{\"reward\": 0.75}");
    });
    router.post("/down").handler(ctx -> {
      read(ctx, "/down");
      json(ctx, 503, "{\"error\": \"overloaded\"}");
    });
    router.post("/slow").handler(ctx -> {
      read(ctx, "/slow");
      // Far past any timeout the tests use; the client has given up by then.
      serverVertx.setTimer(60_000, id -> json(ctx, 200, "{\"reward\": 1}"));
    });
    router.post("/bad").handler(ctx -> {
      read(ctx, "/bad");
      json(ctx, 400, "{\"error\": \"unknown task\"}");
    });
    router.post("/garbled").handler(ctx -> {
      read(ctx, "/garbled");
      json(ctx, 200, "{\"reward\": ");
    });
    router.post("/noreward").handler(ctx -> {
      read(ctx, "/noreward");
      json(ctx, 200, "{\"score\": 1}");
    });
    router.post("/refuses").handler(ctx -> {
      read(ctx, "/refuses");
      json(ctx, 200, "{\"error\": \"cannot parse the answer\"}");
    });
    server = serverVertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stopServer() throws Exception {
    serverVertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @BeforeEach
  void resetCounts() {
    hits.clear();
    lastBody.clear();
  }

  @AfterEach
  void closeVerifiers() {
    verifiers.forEach(HttpVerifier::close);
  }

  private static JsonNode read(RoutingContext ctx) {
    hits.computeIfAbsent(ctx.normalizedPath(), k -> new AtomicInteger()).incrementAndGet();
    try {
      JsonNode body = JSON.readTree(ctx.body().asString());
      lastBody.put(ctx.normalizedPath(), body);
      return body;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static int read(RoutingContext ctx, String path) {
    read(ctx);
    return hits.get(path).get();
  }

  private static void json(RoutingContext ctx, int status, String body) {
    ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(body);
  }

  private static int hits(String path) {
    AtomicInteger n = hits.get(path);
    return n == null ? 0 : n.get();
  }

  private static String url(String path) {
    return "http://127.0.0.1:" + server.actualPort() + path;
  }

  private HttpVerifier verifier(String path, int retries) {
    // Generous, so that a slow first request on a busy machine does not time out; only /slow does.
    HttpVerifierConfig c = HttpVerifierConfig.of(url(path))
        .withTimeout(Duration.ofMillis(path.equals("/slow") ? 300 : 10_000))
        .withRetries(retries, Duration.ofMillis(10));
    HttpVerifier v = new HttpVerifier(c);
    verifiers.add(v);
    return v;
  }

  private static Reward score(HttpVerifier v, RewardRequest r) throws Exception {
    return v.score(r).get(30, TimeUnit.SECONDS);
  }

  @Test
  void postsTheRequestAsJsonAndReadsTheReward() throws Exception {
    HttpVerifier v = verifier("/ok", 2);
    assertThat(score(v, REQUEST)).isEqualTo(Reward.of(1));
    assertThat(score(v, new RewardRequest("2+2?", "Answer: 5\n", "4"))).isEqualTo(Reward.of(0));
    assertThat(score(v, new RewardRequest("", "x", null))).isEqualTo(Reward.of(0));
    JsonNode sent = lastBody.get("/ok");
    assertThat(sent.get("prompt").asText()).isEmpty();
    assertThat(sent.get("response").asText()).isEqualTo("x");
    assertThat(sent.get("reference").isNull()).isTrue();
  }

  @Test
  void retriesServerErrorsUntilOneSucceeds() throws Exception {
    assertThat(score(verifier("/flaky", 2), REQUEST)).isEqualTo(Reward.of(0.75));
    assertThat(hits("/flaky")).isEqualTo(3);
  }

  @Test
  void recordsAnErrorAfterTheLastRetry() throws Exception {
    Reward r = score(verifier("/down", 2), REQUEST);
    assertThat(r.ok()).isFalse();
    assertThat(r.value()).isNaN();
    assertThat(r.error()).contains(url("/down")).contains("after 3 attempts").contains("HTTP 503")
        .contains("overloaded");
    assertThat(hits("/down")).isEqualTo(3);
  }

  @Test
  void anAttemptThatTakesTooLongTimesOut() throws Exception {
    Reward r = score(verifier("/slow", 1), REQUEST);
    assertThat(r.error()).contains(url("/slow")).contains("timed out after 300 ms").contains("after 2 attempts");
    assertThat(hits("/slow")).isEqualTo(2);
  }

  @Test
  void aClientErrorIsNotRetried() throws Exception {
    Reward r = score(verifier("/bad", 3), REQUEST);
    assertThat(r.error()).contains(url("/bad")).contains("after 1 attempt:").contains("HTTP 400")
        .contains("unknown task");
    assertThat(hits("/bad")).isEqualTo(1);
  }

  @Test
  void anUnreadableReplyIsAnError() throws Exception {
    assertThat(score(verifier("/garbled", 2), REQUEST).error()).contains(url("/garbled")).contains("malformed JSON");
    assertThat(hits("/garbled")).isEqualTo(1);
    assertThat(score(verifier("/noreward", 2), REQUEST).error()).contains("no number 'reward'");
    assertThat(score(verifier("/refuses", 2), REQUEST).error())
        .contains("the verifier reported an error: cannot parse the answer");
  }

  @Test
  void aVerifierThatIsNotThereIsAnError() throws Exception {
    HttpServer gone = serverVertx.createHttpServer().requestHandler(req -> req.response().end())
        .listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    int port = gone.actualPort();
    gone.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    HttpVerifier v = new HttpVerifier(HttpVerifierConfig.of("http://127.0.0.1:" + port + "/verify")
        .withRetries(1, Duration.ofMillis(10)));
    verifiers.add(v);
    assertThat(score(v, REQUEST).error()).contains("http://127.0.0.1:" + port + "/verify")
        .contains("after 2 attempts").contains("cannot connect");
  }

  @Test
  void theSameRequestIsVerifiedOnce() throws Exception {
    HttpVerifier v = verifier("/ok", 0);
    assertThat(score(v, REQUEST)).isEqualTo(Reward.of(1));
    assertThat(score(v, new RewardRequest("2+2?", "Answer: 4\n", "4"))).isEqualTo(Reward.of(1));
    assertThat(hits("/ok")).isEqualTo(1);
    // Concurrent asks for one new request share one call.
    RewardRequest other = new RewardRequest("3+3?", "Answer: 6\n", "6");
    List<CompletableFuture<Reward>> all = List.of(v.score(other), v.score(other), v.score(other));
    for (CompletableFuture<Reward> f : all) {
      assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo(Reward.of(1));
    }
    assertThat(hits("/ok")).isEqualTo(2);
  }

  @Test
  void failuresAreNotCached() throws Exception {
    HttpVerifier v = verifier("/flaky", 0);
    assertThat(score(v, REQUEST).ok()).isFalse();
    assertThat(score(v, REQUEST).ok()).isFalse();
    assertThat(score(v, REQUEST)).isEqualTo(Reward.of(0.75));
    assertThat(score(v, REQUEST)).isEqualTo(Reward.of(0.75));
    assertThat(hits("/flaky")).isEqualTo(3);
  }

  @Test
  void runsOnAVertxItIsGivenAndLeavesItOpen() throws Exception {
    HttpVerifier v = new HttpVerifier(HttpVerifierConfig.of(url("/ok")), serverVertx);
    assertThat(score(v, REQUEST)).isEqualTo(Reward.of(1));
    v.close();
    assertThat(score(v, REQUEST).error()).contains("is closed");
    // The shared instance still serves.
    assertThat(score(verifier("/ok", 0), REQUEST)).isEqualTo(Reward.of(1));
  }

  @Test
  void closingFailsWhatIsStillInFlight() throws Exception {
    HttpVerifier v = new HttpVerifier(HttpVerifierConfig.of(url("/slow")).withTimeout(Duration.ofSeconds(20)));
    CompletableFuture<Reward> pending = v.score(REQUEST);
    while (hits("/slow") == 0) {
      Thread.sleep(5);
    }
    v.close();
    assertThat(pending.get(30, TimeUnit.SECONDS).error()).contains("closed while verifying");
  }

  @Test
  void backoffDoublesWithEachRetry() {
    HttpVerifier v = new HttpVerifier(HttpVerifierConfig.of(url("/ok")).withRetries(5, Duration.ofMillis(100)),
        serverVertx);
    verifiers.add(v);
    assertThat(List.of(v.backoffBefore(2), v.backoffBefore(3), v.backoffBefore(4))).containsExactly(100L, 200L, 400L);
    assertThat(v.backoffBefore(200)).isPositive();
  }
}
