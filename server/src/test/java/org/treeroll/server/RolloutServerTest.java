package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.Vertx;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.scheduler.EngineStats;

/** The HTTP API end to end: a real server on a random loopback port over a tiny model. */
class RolloutServerTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  static Path dirA;
  static Path dirB;
  static Vertx vertx;
  static LoadedModel model;
  static InferenceSession session;
  static RolloutServer server;
  static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  @BeforeAll
  static void start() {
    dirA = tmp.resolve("a");
    dirB = tmp.resolve("b");
    RandomModelWriter.write(dirA, ModelPreset.TINY_QWEN3, 3, DType.F32, tmp);
    RandomModelWriter.write(dirB, ModelPreset.TINY_QWEN3, 4, DType.BF16, tmp);
    vertx = Vertx.vertx();
    model = LoadedModel.open(dirA);
    session = new InferenceSession(vertx, model, 16L << 20, 16, 512);
    server = RolloutServer.start(vertx, session, ServerOptions.defaults().withPort(0));
  }

  @AfterAll
  static void stop() {
    server.close();
    session.close();
    model.close();
    vertx.close().toCompletionStage().toCompletableFuture().orTimeout(1, java.util.concurrent.TimeUnit.MINUTES).join();
  }

  static String url(RolloutServer s, String path) {
    return "http://127.0.0.1:" + s.port() + path;
  }

  static HttpResponse<String> post(RolloutServer s, String path, String body, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(s, path))).timeout(Duration.ofMinutes(2))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> send(RolloutServer s, String method, String path, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(s, path))).timeout(Duration.ofMinutes(2))
        .method(method, HttpRequest.BodyPublishers.noBody());
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode json(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body());
  }

  static EngineStats engine() throws Exception {
    return session.stats().get(1, TimeUnit.MINUTES);
  }

  /** A rollout of one prompt with EOS ignored: long enough to cancel mid-way. */
  static String longRollout(String id, boolean stream) {
    return "{\"id\": \"" + id + "\", \"stream\": " + stream + ", \"prompts\": [\"abc\"],"
        + " \"tree\": {\"segment_length\": 8, \"max_depth\": 64, \"leaf_budget\": 64, \"initial_divergence\": 4,"
        + " \"max_tokens\": 512}, \"sampling\": {\"ignore_eos\": true, \"seed\": 1}}";
  }

  @Test
  void concurrentRolloutsWithRewardsAnswerTreesRewardsAndAdvantages() throws Exception {
    String body = "{\"prompts\": [\"Q: 2+3=?\\n\", {\"token_ids\": [81, 58, 32]}], \"references\": [\"5\", \"7\"],"
        + " \"reward\": \"math\", \"estimator\": \"treepo\", \"tree\": {\"segment_length\": 4, \"max_depth\": 4,"
        + " \"leaf_budget\": 6}, \"sampling\": {\"seed\": %d, \"temperature\": 1.1}}";
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      String b = String.format(body, i);
      calls.add(CompletableFuture.supplyAsync(() -> {
        try {
          return post(server, "/v1/rollouts", b);
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      }));
    }
    Set<String> ids = new HashSet<>();
    for (var c : calls) {
      HttpResponse<String> r = c.get(2, TimeUnit.MINUTES);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      JsonNode o = json(r);
      ids.add(o.get("id").asText());
      assertThat(o.get("trees")).hasSize(2);
      int answers = 0;
      for (JsonNode t : o.get("trees")) {
        assertThat(t.get("format").asText()).isEqualTo("treeroll.tree");
        answers += (int) java.util.stream.StreamSupport.stream(t.get("nodes").spliterator(), false)
            .filter(n -> n.has("finish_reason") && !n.get("finish_reason").isNull()).count();
      }
      assertThat(answers).isEqualTo(12);
      assertThat(o.get("rewards").get("scored").asInt() + o.get("rewards").get("errors").asInt()).isEqualTo(12);
      assertThat(o.get("estimator").asText()).startsWith("treepo");
      JsonNode rows = o.get("advantages");
      assertThat(rows).hasSize(12);
      for (JsonNode row : rows) {
        assertThat(row.get("advantages").size()).isEqualTo(row.get("responses").size());
        assertThat(row.get("old_log_probs").size()).isEqualTo(row.get("responses").size());
      }
      // Kept for a while: the same answer by id.
      HttpResponse<String> again = send(server, "GET", "/v1/rollouts/" + o.get("id").asText());
      assertThat(again.statusCode()).isEqualTo(200);
      assertThat(json(again)).isEqualTo(o);
      if (ids.size() == 1) {
        assertViewDrawsEveryNode(o);
      }
    }
    assertThat(ids).hasSize(8);
    assertThat(engine().liveBranches()).isZero();
  }

  /** The viewer's page for a finished rollout holds its trees, node for node, and its estimator first. */
  private static void assertViewDrawsEveryNode(JsonNode rollout) throws Exception {
    String id = rollout.get("id").asText();
    HttpResponse<String> page = send(server, "GET", "/v1/rollouts/" + id + "/view");
    assertThat(page.statusCode()).as(page.body()).isEqualTo(200);
    assertThat(page.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
    String open = "<script id=\"treeroll-data\" type=\"application/json\">";
    int from = page.body().indexOf(open) + open.length();
    JsonNode data = JSON.readTree(page.body().substring(from, page.body().indexOf("</script>", from)));
    assertThat(data.get("source").asText()).isEqualTo(id);
    assertThat(data.get("estimators").get(0).asText()).isEqualTo(rollout.get("estimator").asText());
    assertThat(data.get("trees")).hasSize(rollout.get("trees").size());
    for (int i = 0; i < data.get("trees").size(); i++) {
      assertThat(data.get("trees").get(i).get("nodes")).hasSize(rollout.get("trees").get(i).get("nodes").size());
    }
    assertThat(send(server, "GET", "/v1/rollouts/no-such-id/view").statusCode()).isEqualTo(404);
  }

  @Test
  void aStreamSendsEveryAnswerEveryTreeThenDone() throws Exception {
    String body = "{\"stream\": true, \"prompts\": [\"hello\", \"world\"], \"tree\": {\"segment_length\": 3,"
        + " \"max_depth\": 3, \"leaf_budget\": 4}, \"sampling\": {\"seed\": 5}}";
    HttpRequest req = HttpRequest.newBuilder(URI.create(url(server, "/v1/rollouts"))).timeout(Duration.ofMinutes(2))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    HttpResponse<java.util.stream.Stream<String>> r = http.send(req, HttpResponse.BodyHandlers.ofLines());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type")).hasValue("application/x-ndjson");
    List<JsonNode> events = new ArrayList<>();
    for (String line : r.body().toList()) {
      events.add(JSON.readTree(line));
    }
    Map<String, Integer> counts = new HashMap<>();
    events.forEach(e -> counts.merge(e.get("event").asText(), 1, Integer::sum));
    assertThat(counts).containsEntry("answer", 8).containsEntry("tree", 2).containsEntry("done", 1);
    JsonNode done = events.get(events.size() - 1);
    assertThat(done.get("event").asText()).isEqualTo("done");
    assertThat(done.get("stats").get("answers").asInt()).isEqualTo(8);
    for (JsonNode e : events) {
      if (e.get("event").asText().equals("answer")) {
        assertThat(e.get("tokens").size()).isEqualTo(e.get("logprobs").size()).isPositive();
      }
    }
    // The finished rollout has the trees the stream sent, one by one.
    JsonNode kept = json(send(server, "GET", "/v1/rollouts/" + done.get("id").asText()));
    Set<JsonNode> streamedTrees = new HashSet<>();
    events.stream().filter(e -> e.get("event").asText().equals("tree")).forEach(e -> streamedTrees.add(e.get("tree")));
    assertThat(new HashSet<>(toList(kept.get("trees")))).isEqualTo(streamedTrees);
  }

  @Test
  void deleteCancelsARunningRolloutAndFreesItsPages() throws Exception {
    var call = CompletableFuture.supplyAsync(() -> {
      try {
        return post(server, "/v1/rollouts", longRollout("to-cancel", false));
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    awaitStatus("to-cancel", 202);
    HttpResponse<String> del = send(server, "DELETE", "/v1/rollouts/to-cancel");
    assertThat(del.statusCode()).isEqualTo(200);
    assertThat(json(del).get("status").asText()).isEqualTo("cancelled");
    HttpResponse<String> r = call.get(2, TimeUnit.MINUTES);
    assertThat(r.statusCode()).isEqualTo(409);
    assertThat(json(r).get("error").get("message").asText()).contains("cancelled");
    awaitIdle();
    assertThat(send(server, "GET", "/v1/rollouts/to-cancel").statusCode()).isEqualTo(404);
  }

  @Test
  void aClientThatLeavesAStreamCancelsIt() throws Exception {
    HttpRequest req = HttpRequest.newBuilder(URI.create(url(server, "/v1/rollouts"))).timeout(Duration.ofMinutes(2))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(longRollout("to-leave", true))).build();
    HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
    try (InputStream in = r.body();
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      assertThat(JSON.readTree(lines.readLine()).get("event").asText()).isEqualTo("answer");
    }
    awaitIdle();
    assertThat(send(server, "GET", "/v1/rollouts/to-leave").statusCode()).isEqualTo(404);
  }

  @Test
  void overloadIsAnswered429WithRetryAfter() throws Exception {
    try (RolloutServer small = RolloutServer.start(vertx, session, ServerOptions.defaults().withPort(0).withMaxInFlight(1))) {
      var first = CompletableFuture.supplyAsync(() -> {
        try {
          return post(small, "/v1/rollouts", longRollout("hog", false));
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      });
      awaitStatus(small, "hog", 202);
      HttpResponse<String> refused = post(small, "/v1/rollouts", "{\"prompts\": [\"x\"]}");
      assertThat(refused.statusCode()).isEqualTo(429);
      assertThat(refused.headers().firstValue("retry-after")).hasValue("1");
      assertThat(json(refused).get("error").get("type").asText()).isEqualTo("rate_limit_error");
      send(small, "DELETE", "/v1/rollouts/hog");
      assertThat(first.get(2, TimeUnit.MINUTES).statusCode()).isEqualTo(409);
      awaitIdle();
      assertThat(post(small, "/v1/rollouts", "{\"prompts\": [\"x\"], \"tree\": {\"leaf_budget\": 2, \"max_tokens\": 4}}")
          .statusCode()).isEqualTo(200);
    }
  }

  @Test
  void aRequestPastItsTimeoutIsCancelledAnd504() throws Exception {
    try (RolloutServer quick = RolloutServer.start(vertx, session,
        ServerOptions.defaults().withPort(0).withRequestTimeout(Duration.ofMillis(300)))) {
      HttpResponse<String> r = post(quick, "/v1/rollouts", longRollout("slow", false));
      assertThat(r.statusCode()).isEqualTo(504);
      assertThat(json(r).get("error").get("message").asText()).contains("timed out");
      awaitIdle();
    }
  }

  @Test
  void anApiKeyGuardsEverythingButHealth() throws Exception {
    try (RolloutServer locked = RolloutServer.start(vertx, session, ServerOptions.defaults().withPort(0).withApiKey("s3cret"))) {
      assertThat(send(locked, "GET", "/v1/models").statusCode()).isEqualTo(401);
      assertThat(send(locked, "GET", "/v1/models", "Authorization", "Bearer wrong").statusCode()).isEqualTo(401);
      assertThat(post(locked, "/v1/rollouts", "{\"prompts\": [\"x\"]}").statusCode()).isEqualTo(401);
      assertThat(json(send(locked, "GET", "/metrics")).get("error").get("type").asText()).isEqualTo("authentication_error");
      assertThat(send(locked, "GET", "/health").statusCode()).isEqualTo(200);
      assertThat(send(locked, "GET", "/v1/models", "Authorization", "Bearer s3cret").statusCode()).isEqualTo(200);
    }
  }

  /**
   * Rollouts keep coming while the weights change twice: every tree is of one version, and its
   * answers' log-probs are those of that version's weights (rescored after the run).
   */
  @Test
  void weightUpdatesUnderLoadNeverMixVersionsInATree() throws Exception {
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      String b = "{\"prompts\": [\"w" + i + "\", \"v" + i + "\"], \"tree\": {\"segment_length\": 4, \"max_depth\": 4,"
          + " \"leaf_budget\": 4}, \"sampling\": {\"seed\": " + i + ", \"ignore_eos\": true}}";
      calls.add(CompletableFuture.supplyAsync(() -> {
        try {
          return post(server, "/v1/rollouts", b);
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      }));
      if (i == 3 || i == 7) {
        if (i == 7) {
          // One request sent after the first update has its answer before the second: B serves
          // at least one tree, however fast requests finish (calls 5 and 6 stay in flight).
          calls.get(4).get(2, TimeUnit.MINUTES);
        }
        Path dir = i == 3 ? dirB : dirA;
        HttpResponse<String> u = post(server, "/v1/weights", "{\"path\": \"" + dir + "\"}");
        assertThat(u.statusCode()).as(u.body()).isEqualTo(200);
      }
    }
    long base = engine().weightVersion() - 2;
    Map<Long, Path> weightsOf = Map.of(base, dirA, base + 1, dirB, base + 2, dirA);
    Map<Path, List<JsonNode>> treesByWeights = new HashMap<>();
    for (var c : calls) {
      HttpResponse<String> r = c.get(2, TimeUnit.MINUTES);
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      JsonNode o = json(r);
      for (JsonNode t : o.get("trees")) {
        assertThat(t.get("weight_version").asLong()).isEqualTo(o.get("weight_version").asLong());
        Path w = weightsOf.get(t.get("weight_version").asLong());
        assertThat(w).as("version %s", t.get("weight_version")).isNotNull();
        treesByWeights.computeIfAbsent(w, k -> new ArrayList<>()).add(t);
      }
    }
    for (var e : treesByWeights.entrySet()) {
      try (LoadedModel m = LoadedModel.open(e.getKey()); InferenceSession s = new InferenceSession(m, 8L << 20)) {
        for (JsonNode t : e.getValue()) {
          assertTreeMatchesRescoring(s, t);
        }
      }
    }
    assertThat(treesByWeights).hasSizeGreaterThanOrEqualTo(2);
  }

  /** Every root-to-leaf path's recorded log-probs equal teacher-forced rescoring under {@code s}'s weights. */
  static void assertTreeMatchesRescoring(InferenceSession s, JsonNode tree) throws Exception {
    int[] prompt = ints(tree.get("prompt"));
    Map<Integer, JsonNode> nodes = new HashMap<>();
    Set<Integer> parents = new HashSet<>();
    for (JsonNode n : tree.get("nodes")) {
      nodes.put(n.get("id").asInt(), n);
      parents.add(n.get("parent").asInt());
    }
    for (JsonNode leaf : nodes.values()) {
      if (parents.contains(leaf.get("id").asInt())) {
        continue;
      }
      List<JsonNode> path = new ArrayList<>();
      for (JsonNode n = leaf; n != null; n = nodes.get(n.get("parent").asInt())) {
        path.add(0, n);
      }
      List<Integer> tokens = new ArrayList<>();
      List<Double> lps = new ArrayList<>();
      for (JsonNode n : path) {
        n.get("tokens").forEach(x -> tokens.add(x.asInt()));
        n.get("logprobs").forEach(x -> lps.add(x.asDouble()));
      }
      int[] whole = Arrays.copyOf(prompt, prompt.length + tokens.size());
      for (int i = 0; i < tokens.size(); i++) {
        whole[prompt.length + i] = tokens.get(i);
      }
      float[] rescored = s.score(List.of(whole), 1.0).get(1, TimeUnit.MINUTES).get(0).logProbs();
      for (int i = 0; i < lps.size(); i++) {
        assertThat(lps.get(i)).isCloseTo(rescored[prompt.length - 1 + i], org.assertj.core.data.Offset.offset(1e-4));
      }
    }
  }

  @Test
  void chatMessagePromptsAreRenderedLikeChatCompletions() throws Exception {
    HttpResponse<String> r = post(server, "/v1/rollouts", "{\"prompts\": [{\"messages\": [{\"role\": \"system\","
        + " \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"hi\"}]}], \"tree\": {\"leaf_budget\": 2,"
        + " \"max_tokens\": 4}}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    String rendered = server.chat.render(List.of(new ChatTemplate.Message("system", "Be brief.", null),
        new ChatTemplate.Message("user", "hi", null)));
    assertThat(ints(json(r).get("trees").get(0).get("prompt"))).isEqualTo(model.tokenizer().encode(rendered));
    HttpResponse<String> bad = post(server, "/v1/rollouts", "{\"prompts\": [{\"messages\": [{\"role\": \"robot\","
        + " \"content\": \"x\"}]}]}");
    assertThat(bad.statusCode()).isEqualTo(400);
    assertThat(json(bad).get("error").get("param").asText()).isEqualTo("prompts[0].messages[0].role");
  }

  @Test
  void theOpenApiDocumentListsExactlyTheRoutes() throws Exception {
    JsonNode doc = json(send(server, "GET", "/openapi.json"));
    List<String> documented = new ArrayList<>();
    doc.get("paths").fields().forEachRemaining(p -> p.getValue().fieldNames().forEachRemaining(m -> {
      if (!m.equals("parameters")) {
        documented.add(m.toUpperCase(java.util.Locale.ROOT) + " " + p.getKey().replaceAll("\\{(\\w+)}", ":$1"));
      }
    }));
    assertThat(documented).containsExactlyInAnyOrderElementsOf(server.routeList());
  }

  @Test
  void metricsAndHealthDescribeTheEngine() throws Exception {
    post(server, "/v1/rollouts", "{\"prompts\": [\"m\"], \"tree\": {\"leaf_budget\": 2, \"max_tokens\": 4}}");
    HttpResponse<String> m = send(server, "GET", "/metrics");
    assertThat(m.statusCode()).isEqualTo(200);
    assertThat(m.body()).contains("treeroll_tokens_computed_total", "treeroll_live_branches",
        "treeroll_kv_bytes_in_use", "treeroll_kv_tokens_capacity", "treeroll_prefix_cache_hit_ratio", "treeroll_queue_depth",
        "treeroll_http_request_seconds_bucket");
    assertThat(m.body()).containsPattern("treeroll_tokens_computed_total [1-9]");
    JsonNode h = json(send(server, "GET", "/health"));
    assertThat(h.get("status").asText()).isEqualTo("ok");
    assertThat(json(send(server, "GET", "/v1/models")).get("data").get(0).get("id").asText()).isEqualTo("a");
  }

  @Test
  void weightsSentAsASafetensorsBodyServeAtOnce() throws Exception {
    byte[] file = java.nio.file.Files.readAllBytes(dirB.resolve("model.safetensors"));
    HttpResponse<String> u = http.send(HttpRequest.newBuilder(URI.create(url(server, "/v1/weights?policy=wait")))
        .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/octet-stream")
        .POST(HttpRequest.BodyPublishers.ofByteArray(file)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(u.statusCode()).as(u.body()).isEqualTo(200);
    long version = json(u).get("weight_version").asLong();
    try {
      JsonNode r = json(post(server, "/v1/rollouts", "{\"prompts\": [\"up\"], \"tree\": {\"leaf_budget\": 3,"
          + " \"max_tokens\": 6}, \"sampling\": {\"ignore_eos\": true}}"));
      assertThat(r.get("weight_version").asLong()).isEqualTo(version);
      try (LoadedModel b = LoadedModel.open(dirB); InferenceSession s = new InferenceSession(b, 8L << 20)) {
        assertTreeMatchesRescoring(s, r.get("trees").get(0));
      }
    } finally {
      assertThat(post(server, "/v1/weights", "{\"path\": \"" + dirA + "\"}").statusCode()).isEqualTo(200);
    }
  }

  @Test
  void aMalformedWeightUpdateIsRefusedNamingTheProblem() throws Exception {
    long before = engine().weightVersion();
    HttpResponse<String> r = post(server, "/v1/weights", "{\"path\": \"" + tmp.resolve("nope") + "\"}");
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(json(r).get("error").get("param").asText()).isEqualTo("path");
    HttpResponse<String> p = post(server, "/v1/weights", "{\"path\": \"" + dirB + "\", \"policy\": \"later\"}");
    assertThat(p.statusCode()).isEqualTo(400);
    assertThat(json(p).get("error").get("param").asText()).isEqualTo("policy");
    assertThat(engine().weightVersion()).isEqualTo(before);
  }

  private static void awaitStatus(String id, int status) throws Exception {
    awaitStatus(server, id, status);
  }

  private static void awaitStatus(RolloutServer s, String id, int status) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    while (send(s, "GET", "/v1/rollouts/" + id).statusCode() != status) {
      assertThat(System.nanoTime()).as("rollout %s never reached %d", id, status).isLessThan(deadline);
      Thread.sleep(5);
    }
  }

  /** Waits until the engine has nothing in flight: no branch, no lock on the cache. */
  private static void awaitIdle() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    EngineStats s;
    while ((s = engine()).liveBranches() > 0 || s.activeRequests() > 0 || s.cacheLocks() > 0) {
      assertThat(System.nanoTime()).as("engine still busy: %s", s).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static List<JsonNode> toList(JsonNode a) {
    List<JsonNode> out = new ArrayList<>();
    a.forEach(out::add);
    return out;
  }
}
