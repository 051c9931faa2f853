package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.server.ServerOptions;
import org.treeroll.server.cluster.ClusterOptions;
import org.treeroll.server.cluster.ClusterRouter;
import org.treeroll.server.cluster.LocalEngines;
import org.treeroll.server.cluster.RoutingOptions;

/**
 * A router (in this JVM) and three engine JVMs on loopback (docs/scale-out.md). The tests share
 * the cluster and run in order; the last one kills an engine. Every rollout answered 200 is kept
 * in {@link #acknowledged}: after the kill each must still be readable from the router.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path MODEL =
      Path.of(System.getProperty("treeroll.models.dir", "../models")).resolve("treeroll-arith").toAbsolutePath();
  private static final String ENGINE = "X-TreeRoll-Engine";

  @TempDir static Path logs;
  private LocalEngines local;
  private ClusterOptions.Joined routerNode;
  private ClusterRouter router;
  private List<LocalEngines.Engine> engines;
  private final HttpClient http = HttpClient.newHttpClient();
  // Clients block on their answers; the common pool may have a single thread on a small machine.
  private final ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();
  private String base;
  private final Map<String, Answer> acknowledged = new ConcurrentHashMap<>();

  record Answer(int status, String engine, JsonNode body) {
    long version() {
      return body.path("weight_version").asLong(-1);
    }
  }

  @BeforeAll
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void startCluster() throws Exception {
    local = new LocalEngines("test-" + UUID.randomUUID(), MODEL, logs, 64, 4);
    routerNode = local.options(0).join();
    router = ClusterRouter.start(routerNode, ServerOptions.defaults().withPort(0), RoutingOptions.defaults());
    base = "http://127.0.0.1:" + router.port();
    engines = new ArrayList<>(local.start(1, 2, 3));
    awaitCluster(c -> serving(c) == 3);
  }

  @AfterAll
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void stopCluster() throws Exception {
    if (router != null) {
      router.close();
    }
    if (routerNode != null) {
      routerNode.vertx().close().toCompletionStage().toCompletableFuture().get(1, TimeUnit.MINUTES);
    }
    if (local != null) {
      local.close();
    }
    clients.shutdownNow();
  }

  @Test
  @Order(0)
  @Timeout(value = 1, unit = TimeUnit.MINUTES)
  void badRequestsAreAnsweredByNameAndTheKeyIsAskedFor() throws Exception {
    ObjectNode badId = JSON.createObjectNode().put("id", "no spaces");
    assertThat(post("/v1/rollouts", badId).body().path("error").path("param").asText()).isEqualTo("id");
    // The engine checks the rest, and its answer comes back as it is.
    ObjectNode badTree = JSON.createObjectNode();
    badTree.putArray("prompts").add("1+1=?\n");
    badTree.putObject("tree").put("leaf_budget", 0);
    Answer a = post("/v1/rollouts", badTree);
    assertThat(a.status()).isEqualTo(400);
    assertThat(a.body().path("error").path("param").asText()).isEqualTo("tree.leaf_budget");
    assertThat(a.engine()).isNotNull();

    try (ClusterRouter keyed = ClusterRouter.start(routerNode, ServerOptions.defaults().withPort(0).withApiKey("k"),
        RoutingOptions.defaults())) {
      String at = "http://127.0.0.1:" + keyed.port();
      HttpRequest.Builder cluster = HttpRequest.newBuilder(URI.create(at + "/v1/cluster")).timeout(Duration.ofSeconds(30));
      assertThat(http.send(cluster.build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
      assertThat(http.send(cluster.header("Authorization", "Bearer k").build(), HttpResponse.BodyHandlers.ofString())
          .statusCode()).isEqualTo(200);
      assertThat(http.send(HttpRequest.newBuilder(URI.create(at + "/health")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
    }
  }

  @Test
  @Order(1)
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void requestsSpreadOverEnginesAndEachPromptStaysOnOne() throws Exception {
    // Prompts with nothing in common go to the least-loaded engine: sent together, they spread.
    List<CompletableFuture<Answer>> sent = new ArrayList<>();
    for (int i = 1; i <= 9; i++) {
      sent.add(rolloutAsync("spread-" + i, List.of(i + "" + i + "+" + i + "=?\n"), 4, false));
    }
    Set<String> used = new HashSet<>();
    for (CompletableFuture<Answer> f : sent) {
      Answer a = f.get(90, TimeUnit.SECONDS);
      assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
      used.add(a.engine());
    }
    assertThat(used).as("engines that served 9 unrelated prompts sent at once").hasSize(3);

    // A request with three prompts goes whole to one engine: all its answers come from there.
    Answer multi = rolloutAsync("multi", List.of("12+3=?\n", "45*6=?\n", "78-9=?\n"), 4, false)
        .get(90, TimeUnit.SECONDS);
    assertThat(multi.status()).isEqualTo(200);
    assertThat(multi.body().path("stats").path("answers").asInt()).isEqualTo(12);
    assertThat(multi.body().path("trees")).hasSize(3)
        .allSatisfy(t -> assertThat(t.path("weight_version").asLong()).isEqualTo(multi.version()));

    // The same prompt again lands where its tree's KV already is.
    for (int i = 0; i < 2; i++) {
      Answer again = rolloutAsync("multi-again-" + i, List.of("12+3=?\n", "45*6=?\n", "78-9=?\n"), 4, false)
          .get(90, TimeUnit.SECONDS);
      assertThat(again.engine()).isEqualTo(multi.engine());
      assertThat(again.body().path("stats").path("cache_hit_tokens").asLong()).isPositive();
    }
  }

  @Test
  @Order(2)
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void promptsSharingASystemPromptHitOneEnginesCache() throws Exception {
    String system = "You are a careful calculator. Work it out digit by digit, check the carry, then give the"
        + " final answer alone on the last line.\n";
    JsonNode before = cluster();
    String first = null;
    for (int i = 0; i < 8; i++) {
      Answer a = rolloutAsync("shared-" + i, List.of(system + "Q: " + (i + 2) + "*" + (9 - i) + "=?\n"), 4, false)
          .get(90, TimeUnit.SECONDS);
      assertThat(a.status()).isEqualTo(200);
      first = first == null ? a.engine() : first;
      assertThat(a.engine()).as("engine of request %d", i).isEqualTo(first);
      if (i > 0) {
        assertThat(a.body().path("stats").path("cache_hit_tokens").asLong()).as("cache hits of request %d", i)
            .isGreaterThanOrEqualTo(system.length() / 4);
      }
    }
    JsonNode after = cluster();
    assertThat(after.path("routed").path("prefix").asLong() - before.path("routed").path("prefix").asLong())
        .as("requests routed by prefix").isEqualTo(7);
  }

  @Test
  @Order(3)
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void aStreamedRolloutThroughTheRouterIsTheEnginesStream() throws Exception {
    ObjectNode body = JSON.createObjectNode().put("id", "streamed").put("stream", true);
    body.putArray("prompts").add("31+4=?\n").add("52-7=?\n");
    body.putObject("tree").put("segment_length", 8).put("max_depth", 4).put("leaf_budget", 4);
    body.putObject("sampling").put("seed", 7);
    HttpResponse<String> routed = postRaw(base, "/v1/rollouts", body);
    assertThat(routed.statusCode()).as(routed.body()).isEqualTo(200);
    assertThat(routed.headers().firstValue("Content-Type").orElse("")).startsWith("application/x-ndjson");
    String engine = routed.headers().firstValue(ENGINE).orElseThrow();
    List<JsonNode> events = lines(routed.body());

    // The events are the engine's: its trees and its answer, as the engine keeps them.
    String direct = "http://127.0.0.1:" + engines.stream().filter(e -> e.node().equals(engine)).findFirst()
        .orElseThrow().httpPort();
    JsonNode kept = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(direct + "/v1/rollouts/streamed"))
        .build(), HttpResponse.BodyHandlers.ofString()).body());
    ObjectNode done = (ObjectNode) events.getLast().deepCopy();
    assertThat(done.remove("event").asText()).isEqualTo("done");
    ObjectNode keptLessTrees = ((ObjectNode) kept).deepCopy();
    keptLessTrees.remove("trees");
    assertThat(done).isEqualTo(keptLessTrees);
    assertThat(events.stream().filter(e -> e.path("event").asText().equals("tree")).map(e -> e.get("tree")))
        .containsExactlyInAnyOrderElementsOf(kept.get("trees"));
    assertThat(events.stream().filter(e -> e.path("event").asText().equals("answer")).count())
        .isEqualTo(kept.path("stats").path("answers").asLong()).isEqualTo(8);

    // The result stays readable at the router, as the engine keeps it.
    assertThat(JSON.readTree(send("GET", "/v1/rollouts/streamed").body())).isEqualTo(kept);

    // The same request straight to the engine streams the same kinds of events.
    body.put("id", "streamed-direct");
    List<JsonNode> straight = lines(postRaw(direct, "/v1/rollouts", body).body());
    assertThat(kinds(straight)).isEqualTo(kinds(events));
    // The id of a finished stream is taken.
    assertThat(postRaw(base, "/v1/rollouts", body.put("id", "streamed")).statusCode()).isEqualTo(409);
  }

  @Test
  @Order(4)
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void openAiRequestsAreRoutedAndMetricsCountThem() throws Exception {
    HttpResponse<String> models = send("GET", "/v1/models");
    assertThat(models.statusCode()).as(models.body()).isEqualTo(200);
    String model = JSON.readTree(models.body()).at("/data/0/id").asText();

    ObjectNode completion = JSON.createObjectNode().put("model", model).put("prompt", "64+5=?\n")
        .put("max_tokens", 8).put("seed", 3);
    HttpResponse<String> c = postRaw(base, "/v1/completions", completion);
    assertThat(c.statusCode()).as(c.body()).isEqualTo(200);
    assertThat(JSON.readTree(c.body()).at("/choices/0/text").isTextual()).isTrue();
    assertThat(c.headers().firstValue(ENGINE)).isPresent();

    ObjectNode chat = JSON.createObjectNode().put("model", model).put("max_tokens", 8).put("seed", 5);
    chat.putArray("messages").addObject().put("role", "user").put("content", "What is 81-6?");
    HttpResponse<String> whole = postRaw(base, "/v1/chat/completions", chat);
    assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
    HttpResponse<String> streamed = postRaw(base, "/v1/chat/completions", chat.put("stream", true));
    assertThat(streamed.statusCode()).as(streamed.body()).isEqualTo(200);
    assertThat(streamed.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
    assertThat(streamed.headers().firstValue(ENGINE)).as("the same messages go to the same engine")
        .isEqualTo(whole.headers().firstValue(ENGINE));
    String[] sse = streamed.body().split("\n\n");
    assertThat(sse[sse.length - 1]).isEqualTo("data: [DONE]");
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < sse.length - 1; i++) {
      JsonNode chunk = JSON.readTree(sse[i].substring("data: ".length()));
      assertThat(chunk.path("object").asText()).isEqualTo("chat.completion.chunk");
      text.append(chunk.at("/choices/0/delta/content").asText(""));
    }
    assertThat(text.toString()).isEqualTo(JSON.readTree(whole.body()).at("/choices/0/message/content").asText());
    // An engine's refusal comes back as it is.
    HttpResponse<String> bad = postRaw(base, "/v1/completions", completion.put("max_tokens", 0));
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(JSON.readTree(bad.body()).at("/error/param").asText()).isEqualTo("max_tokens");

    // The router's metrics count requests per engine and the reasons of its choices.
    String metrics = send("GET", "/metrics").body();
    for (LocalEngines.Engine e : engines) {
      assertThat(counter(metrics, "treeroll_router_requests_total{engine=\"" + e.node() + "\"}"))
          .as("requests to %s", e.node()).isPositive();
    }
    assertThat(counter(metrics, "treeroll_router_routed_total{reason=\"prefix\"}"))
        .isEqualTo(cluster().path("routed").path("prefix").asDouble());
    assertThat(metrics).contains("treeroll_router_engines_serving 3.0",
        "treeroll_http_request_seconds_count{route=\"/v1/chat/completions\",status=\"200\"} 2");
  }

  @Test
  @Order(5)
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void aWeightUpdateUnderLoadNeverMixesVersions() throws Exception {
    long old = cluster().path("weight_version").asLong();
    record Sample(long sentNanos, long doneNanos, Answer answer) {}
    List<Sample> samples = new CopyOnWriteArrayList<>();
    AtomicBoolean stop = new AtomicBoolean();
    List<CompletableFuture<Void>> loops = new ArrayList<>();
    for (int c = 0; c < 3; c++) {
      int client = c;
      loops.add(CompletableFuture.runAsync(() -> {
        for (int i = 0; !stop.get(); i++) {
          long t0 = System.nanoTime();
          Answer a = rolloutAsync("load-" + client + "-" + i, List.of(client + "" + i + "-" + i + "=?\n"), 4, false)
              .orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
          samples.add(new Sample(t0, System.nanoTime(), a));
        }
      }, clients));
    }
    while (samples.size() < 6) {
      Thread.sleep(50);
    }
    long postSent = System.nanoTime();
    Answer update = post("/v1/weights", JSON.createObjectNode().put("path", MODEL.toString()));
    long postAnswered = System.nanoTime();
    assertThat(update.status()).as("%s", update.body()).isEqualTo(200);
    long version = update.body().path("weight_version").asLong();
    assertThat(version).isEqualTo(old + 1);
    assertThat(update.body().path("engines").asInt()).isEqualTo(3);
    int seen = samples.size();
    while (samples.size() < seen + 6) {
      Thread.sleep(50);
    }
    stop.set(true);
    CompletableFuture.allOf(loops.toArray(CompletableFuture[]::new)).get(90, TimeUnit.SECONDS);

    for (Sample s : samples) {
      Answer a = s.answer();
      assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
      assertThat(a.body().path("trees")).allSatisfy(t ->
          assertThat(t.path("weight_version").asLong()).as("a tree's version in %s", a.body().path("id"))
              .isEqualTo(a.version()));
      if (s.sentNanos() > postAnswered) {
        assertThat(a.version()).as("version of a request sent after the update answered").isEqualTo(version);
      }
      if (s.doneNanos() < postSent) {
        assertThat(a.version()).as("version of a request answered before the update was sent").isEqualTo(old);
      }
    }
    assertThat(samples).anyMatch(s -> s.answer().version() == old).anyMatch(s -> s.answer().version() == version);
    assertThat(cluster().path("engines")).hasSize(3)
        .allSatisfy(e -> assertThat(e.path("weight_version").asLong()).isEqualTo(version));

    // Weights sent in the body reach every engine too (and the engine restarted below catches up on them).
    HttpResponse<String> raw = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/weights?policy=wait"))
        .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/octet-stream")
        .POST(HttpRequest.BodyPublishers.ofFile(MODEL.resolve("model.safetensors"))).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(raw.statusCode()).as(raw.body()).isEqualTo(200);
    assertThat(JSON.readTree(raw.body()).path("weight_version").asLong()).isEqualTo(version + 1);
    assertThat(JSON.readTree(raw.body()).path("engines").asInt()).isEqualTo(3);
    assertThat(cluster().path("engines")).allSatisfy(e -> assertThat(e.path("weight_version").asLong())
        .isEqualTo(version + 1));
  }

  @Test
  @Order(6)
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void anEngineKilledMidRunLosesNoRequestAndARestartedOneRejoins() throws Exception {
    assertThat(acknowledged).hasSizeGreaterThan(20);
    // A long chat stream (no EOS: 4 answers of 450 tokens); its engine is the one killed once the
    // stream began, so the stream cannot be re-run elsewhere and must end with a retryable error.
    HttpResponse<java.util.stream.Stream<String>> stream = http.send(HttpRequest.newBuilder(
        URI.create(base + "/v1/chat/completions")).timeout(Duration.ofMinutes(3)).header("Content-Type",
        "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"treeroll-arith\", \"n\": 4,"
        + " \"max_tokens\": 450, \"seed\": 1, \"stream\": true, \"logit_bias\": {\"256\": -100},"
        + " \"messages\": [{\"role\": \"user\", \"content\": \"Count on.\"}]}")).build(),
        HttpResponse.BodyHandlers.ofLines());
    assertThat(stream.statusCode()).isEqualTo(200);
    CompletableFuture<List<String>> events = CompletableFuture.supplyAsync(
        () -> stream.body().filter(l -> !l.isEmpty()).toList(), clients);
    String streamedBy = stream.headers().firstValue(ENGINE).orElseThrow();
    int slot = 0;
    while (!engines.get(slot).node().equals(streamedBy)) {
      slot++;
    }
    LocalEngines.Engine victim = engines.get(slot);
    // A streamed rollout of the same messages goes to the same engine by prefix. Lost before its
    // first event (its answers are long), it runs again elsewhere; lost after, it ends with an error line.
    ObjectNode again = JSON.createObjectNode().put("id", "stream-on-victim").put("stream", true);
    again.putArray("prompts").addObject().putArray("messages").addObject().put("role", "user").put("content",
        "Count on.");
    again.putObject("tree").put("segment_length", 16).put("max_depth", 8).put("leaf_budget", 16);
    again.putObject("sampling").put("seed", 7).put("ignore_eos", true);
    CompletableFuture<HttpResponse<String>> rerun = http.sendAsync(HttpRequest.newBuilder(URI.create(base
        + "/v1/rollouts")).timeout(Duration.ofMinutes(3)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(again.toString())).build(), HttpResponse.BodyHandlers.ofString());
    List<CompletableFuture<Answer>> sent = new ArrayList<>();
    for (int i = 1; i <= 9; i++) {
      sent.add(rolloutAsync("kill-" + i, List.of(i + "" + (10 - i) + "*" + i + "=?\n"), 16, true));
    }
    awaitCluster(c -> inFlight(c, victim.node()) > 1);
    local.kill(victim);
    List<String> lines = events.get(3, TimeUnit.MINUTES);
    assertThat(lines.getLast()).isEqualTo("data: [DONE]");
    JsonNode error = JSON.readTree(lines.get(lines.size() - 2).substring("data: ".length())).path("error");
    assertThat(error.path("code").asInt()).as("%s", error).isEqualTo(503);
    assertThat(error.path("message").asText()).contains("retry");
    HttpResponse<String> rerunDone = rerun.get(3, TimeUnit.MINUTES);
    List<JsonNode> rerunEvents = lines(rerunDone.body());
    if (rerunDone.headers().firstValue(ENGINE).orElseThrow().equals(victim.node())) {
      assertThat(rerunEvents.getLast().path("error").path("code").asInt()).isEqualTo(503);
    } else {
      assertThat(rerunEvents.getLast().path("event").asText()).isEqualTo("done");
      assertThat(kinds(rerunEvents)).containsEntry("answer", 16L);
    }
    long broken = rerunDone.headers().firstValue(ENGINE).orElseThrow().equals(victim.node()) ? 2 : 1;
    assertThat(counter(send("GET", "/metrics").body(), "treeroll_router_streams_broken_total")).isEqualTo(broken);

    for (CompletableFuture<Answer> f : sent) {
      Answer a = f.get(3, TimeUnit.MINUTES);
      assertThat(a.status()).as("%s", a.body()).isEqualTo(200);
      assertThat(a.engine()).isNotEqualTo(victim.node());
      assertThat(a.body().path("stats").path("answers").asInt()).isEqualTo(16);
    }
    JsonNode c = cluster();
    assertThat(c.path("engines")).hasSize(2);
    assertThat(c.path("redispatched").asLong()).isPositive();
    // Every result acknowledged before, on whichever engine, is still there.
    for (Map.Entry<String, Answer> e : acknowledged.entrySet()) {
      HttpResponse<String> r = send("GET", "/v1/rollouts/" + e.getKey());
      assertThat(r.statusCode()).as("GET %s", e.getKey()).isEqualTo(200);
      assertThat(JSON.readTree(r.body())).isEqualTo(e.getValue().body());
    }

    // A restarted engine rejoins, is brought to the cluster's weights, and takes work.
    LocalEngines.Engine back = local.start(slot + 1).get(0); // engines.get(i) runs on slot i + 1
    long version = c.path("weight_version").asLong();
    awaitCluster(x -> serving(x) == 3);
    assertThat(cluster().path("engines")).allSatisfy(e -> assertThat(e.path("weight_version").asLong())
        .isEqualTo(version));
    Answer fresh = rolloutAsync("after-restart", List.of("98/7=?\n"), 4, false).get(90, TimeUnit.SECONDS);
    assertThat(fresh.status()).isEqualTo(200);
    assertThat(fresh.engine()).as("the least-loaded engine with the fewest requests routed").isEqualTo(back.node());
    assertThat(fresh.version()).isEqualTo(version);
  }

  @Test
  @Order(7)
  @Timeout(value = 2, unit = TimeUnit.MINUTES)
  void aRunningRolloutIsCancelledOnItsEngine() throws Exception {
    CompletableFuture<Answer> caller = rolloutAsync("cancel-me", List.of("77*7=?\n"), 16, true);
    while (send("GET", "/v1/rollouts/cancel-me").statusCode() != 202) {
      Thread.sleep(20);
    }
    HttpResponse<String> deleted = send("DELETE", "/v1/rollouts/cancel-me");
    assertThat(deleted.statusCode()).as(deleted.body()).isEqualTo(200);
    assertThat(JSON.readTree(deleted.body()).path("status").asText()).isEqualTo("cancelled");
    Answer a = caller.get(90, TimeUnit.SECONDS);
    assertThat(a.status()).as("%s", a.body()).isEqualTo(409);
    assertThat(send("GET", "/v1/rollouts/cancel-me").statusCode()).isEqualTo(404);
    assertThat(send("DELETE", "/v1/rollouts/never-was").statusCode()).isEqualTo(404);
  }

  // ---- Helpers. ----

  private HttpResponse<String> send(String method, String path) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  private CompletableFuture<Answer> rolloutAsync(String id, List<String> prompts, int leaves, boolean long_) {
    ObjectNode body = JSON.createObjectNode().put("id", id);
    prompts.forEach(body.putArray("prompts")::add);
    body.putObject("tree").put("segment_length", long_ ? 16 : 8).put("max_depth", long_ ? 8 : 4)
        .put("leaf_budget", leaves);
    body.putObject("sampling").put("seed", 7).put("ignore_eos", long_);
    return CompletableFuture.supplyAsync(() -> {
      try {
        Answer a = post("/v1/rollouts", body);
        if (a.status() == 200) {
          acknowledged.put(id, a);
        }
        return a;
      } catch (IOException | InterruptedException e) {
        throw new IllegalStateException(e);
      }
    }, clients);
  }

  private Answer post(String path, JsonNode body) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path))
        .timeout(Duration.ofMinutes(3)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
        HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), r.headers().firstValue(ENGINE).orElse(null), JSON.readTree(r.body()));
  }

  private HttpResponse<String> postRaw(String at, String path, JsonNode body) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create(at + path)).timeout(Duration.ofMinutes(1))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
            JSON.writeValueAsString(body))).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static List<JsonNode> lines(String ndjson) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    for (String line : ndjson.split("\n")) {
      out.add(JSON.readTree(line));
    }
    return out;
  }

  /** How many events of each kind, in the order of their first. */
  private static Map<String, Long> kinds(List<JsonNode> events) {
    Map<String, Long> n = new java.util.LinkedHashMap<>();
    events.forEach(e -> n.merge(e.path("event").asText(), 1L, Long::sum));
    return n;
  }

  /** A sample's value in a Prometheus text exposition; fails if it is not there. */
  private static double counter(String metrics, String sample) {
    return metrics.lines().filter(l -> l.startsWith(sample + " ")).findFirst()
        .map(l -> Double.parseDouble(l.substring(sample.length() + 1))).orElseThrow(() -> new AssertionError(
            "no " + sample + " in\n" + metrics));
  }

  private JsonNode cluster() throws IOException, InterruptedException {
    return JSON.readTree(send("GET", "/v1/cluster").body());
  }

  /** Polls {@code GET /v1/cluster} until {@code ok} holds (the caller's timeout bounds it). */
  private void awaitCluster(Predicate<JsonNode> ok) throws IOException, InterruptedException {
    while (!ok.test(cluster())) {
      Thread.sleep(100);
    }
  }

  private static int serving(JsonNode c) {
    int n = 0;
    for (JsonNode e : c.path("engines")) {
      n += e.path("serving").asBoolean() ? 1 : 0;
    }
    return n;
  }

  private static int inFlight(JsonNode c, String node) {
    for (JsonNode e : c.path("engines")) {
      if (e.path("node").asText().equals(node)) {
        return e.path("in_flight").asInt();
      }
    }
    return 0;
  }
}
