package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.NotFoundException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.engine.scheduler.EngineStats;
import org.treeroll.engine.task.ArithmeticTask;

/**
 * The OpenAI-compatible endpoints over the bundled model, through OpenAI's own Java client (with
 * its response validation on, so every answer must parse as OpenAI's schema says) and raw HTTP.
 */
class OpenAiEndpointsTest {
  static OpenAiTestServer server;
  static OpenAIClient client;
  /**
   * Without response validation: OpenAI's legacy completion chunks carry finish_reason null until
   * the last, which the client's schema check refuses even from OpenAI itself.
   */
  static OpenAIClient lenient;
  static String prompt;

  @BeforeAll
  static void start() {
    server = OpenAiTestServer.start();
    client = OpenAIOkHttpClient.builder().baseUrl(server.base() + "/v1").apiKey(OpenAiTestServer.KEY).maxRetries(0)
        .responseValidation(true).timeout(Duration.ofMinutes(2)).build();
    lenient = OpenAIOkHttpClient.builder().baseUrl(server.base() + "/v1").apiKey(OpenAiTestServer.KEY).maxRetries(0)
        .timeout(Duration.ofMinutes(2)).build();
    prompt = ArithmeticTask.generate(1, 0, ArithmeticTask.Level.L3).prompt();
  }

  @AfterAll
  static void stop() {
    client.close();
    lenient.close();
    server.close();
  }

  static CompletionCreateParams.Builder completion(long seed) {
    return CompletionCreateParams.builder().model(server.modelId()).prompt(prompt).maxTokens(64).seed(seed);
  }

  @SuppressWarnings("deprecation") // OpenAI deprecated seed for chat; this server honours it
  static ChatCompletionCreateParams.Builder chat(long seed) {
    return ChatCompletionCreateParams.builder().model(server.modelId()).addUserMessage(prompt.strip())
        .maxCompletionTokens(64).seed(seed);
  }

  @Test
  void aCompletionAnswersInOpenAisShape() {
    Completion c = client.completions().create(completion(1).temperature(0.0).build());
    assertThat(c.id()).startsWith("cmpl-");
    assertThat(c.model()).isEqualTo("treeroll-arith");
    assertThat(c.choices()).hasSize(1);
    CompletionChoice choice = c.choices().get(0);
    assertThat(choice.index()).isZero();
    assertThat(choice.text()).isNotEmpty().doesNotContain("<|endoftext|>");
    assertThat(choice.finishReason()).isEqualTo(CompletionChoice.FinishReason.STOP); // the model ends its answers
    assertThat(choice.logprobs()).isEmpty();
    var usage = c.usage().orElseThrow();
    assertThat(usage.promptTokens()).isEqualTo(prompt.getBytes(StandardCharsets.UTF_8).length);
    // A byte-level vocabulary: one token per byte, plus the EOS that ended the answer.
    assertThat(usage.completionTokens()).isEqualTo(choice.text().getBytes(StandardCharsets.UTF_8).length + 1);
    assertThat(usage.totalTokens()).isEqualTo(usage.promptTokens() + usage.completionTokens());
    // Greedy with the same seed: the same answer again.
    assertThat(client.completions().create(completion(2).temperature(0.0).build()).choices().get(0).text())
        .isEqualTo(choice.text());
  }

  @Test
  void aChatCompletionWithNAnswersGivesNChoicesSharingOnePrompt() {
    ChatCompletion c = client.chat().completions().create(chat(7).n(4).temperature(1.0).build());
    assertThat(c.id()).startsWith("chatcmpl-");
    assertThat(c.choices()).hasSize(4);
    assertThat(c.choices().stream().map(ChatCompletion.Choice::index)).containsExactly(0L, 1L, 2L, 3L);
    for (ChatCompletion.Choice ch : c.choices()) {
      assertThat(ch.message().content()).isPresent();
      assertThat(ch.message().content().orElseThrow()).doesNotContain("<|endoftext|>");
    }
    var usage = c.usage().orElseThrow();
    // No chat template in the bundled model: the fallback renders "content\n"; prompt tokens count once.
    assertThat(usage.promptTokens()).isEqualTo(prompt.getBytes(StandardCharsets.UTF_8).length);
    assertThat(usage.completionTokens()).isGreaterThanOrEqualTo(4);
    // The same seed samples the same four answers; another seed does not.
    ChatCompletion again = client.chat().completions().create(chat(7).n(4).temperature(1.0).build());
    assertThat(texts(again)).isEqualTo(texts(c));
    ChatCompletion other = client.chat().completions().create(chat(8).n(4).temperature(2.0).build());
    assertThat(texts(other)).isNotEqualTo(texts(c));
  }

  private static List<String> texts(ChatCompletion c) {
    return c.choices().stream().map(ch -> ch.message().content().orElse("")).toList();
  }

  @Test
  void aStreamedCompletionJoinsToTheSameTextAsTheWholeOne() {
    CompletionCreateParams p = completion(11).n(3).temperature(1.0).maxTokens(80).build();
    Completion whole = client.completions().create(p);
    Map<Long, StringBuilder> joined = new TreeMap<>();
    Map<Long, String> finish = new TreeMap<>();
    try (StreamResponse<Completion> s = lenient.completions().createStreaming(p)) {
      s.stream().forEach(chunk -> {
        assertThat(chunk.id()).startsWith("cmpl-");
        for (CompletionChoice ch : chunk.choices()) {
          joined.computeIfAbsent(ch.index(), i -> new StringBuilder()).append(ch.text());
          ch._finishReason().asKnown().ifPresent(f -> finish.put(ch.index(), f.asString()));
        }
      });
    }
    assertThat(joined.keySet()).containsExactly(0L, 1L, 2L);
    for (CompletionChoice ch : whole.choices()) {
      assertThat(joined.get(ch.index()).toString()).isEqualTo(ch.text());
      assertThat(finish.get(ch.index())).isEqualTo(ch.finishReason().asString());
    }
  }

  @Test
  void aStreamedChatJoinsToTheSameContentAsTheWholeOne() {
    ChatCompletionCreateParams p = chat(21).n(2).temperature(1.0).build();
    ChatCompletion whole = client.chat().completions().create(p);
    Map<Long, StringBuilder> joined = new TreeMap<>();
    Map<Long, String> roles = new TreeMap<>();
    List<String> finishes = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
      s.stream().forEach(chunk -> {
        assertThat(chunk._object_()).isEqualTo(com.openai.core.JsonValue.from("chat.completion.chunk"));
        for (ChatCompletionChunk.Choice ch : chunk.choices()) {
          ch.delta().role().ifPresent(r -> roles.put(ch.index(), r.asString()));
          ch.delta().content().ifPresent(t -> joined.computeIfAbsent(ch.index(), i -> new StringBuilder()).append(t));
          ch.finishReason().ifPresent(f -> finishes.add(ch.index() + ":" + f.asString()));
        }
      });
    }
    assertThat(roles).containsOnlyKeys(0L, 1L).containsValues("assistant");
    for (ChatCompletion.Choice ch : whole.choices()) {
      assertThat(joined.get(ch.index()).toString()).isEqualTo(ch.message().content().orElseThrow());
      assertThat(finishes).contains(ch.index() + ":" + ch.finishReason().asString());
    }
    assertThat(finishes).hasSize(2);
  }

  @Test
  void aRawStreamIsServerSentEventsEndingWithDoneAndUsage() {
    OpenAiTestServer.Reply r = server.post(OpenAiEndpoints.COMPLETIONS, "{\"prompt\": \"" + escape(prompt)
        + "\", \"max_tokens\": 20, \"seed\": 3, \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.contentType()).startsWith("text/event-stream");
    String[] events = r.body().split("\n\n");
    assertThat(events).allMatch(e -> e.startsWith("data: "));
    assertThat(events[events.length - 1]).isEqualTo("data: [DONE]");
    JsonNode usage = json(events[events.length - 2].substring(6));
    assertThat(usage.path("choices").isEmpty()).isTrue();
    assertThat(usage.path("usage").path("prompt_tokens").asInt()).isEqualTo(prompt.length());
    int tokens = usage.path("usage").path("completion_tokens").asInt();
    assertThat(tokens).isBetween(1, 20);
  }

  /**
   * The controls reach the engine: a logit bias of +100 on 'A' makes greedy decoding write only
   * A's, and a stop string kept by include_stop_str_in_output ends the text after it.
   */
  @Test
  void samplingControlsReachTheEngine() {
    String body = "{\"prompt\": \"" + escape(prompt) + "\", \"max_tokens\": 6, \"temperature\": 0,"
        + " \"logit_bias\": {\"" + (int) 'A' + "\": 100}, \"repetition_penalty\": 1.2, \"presence_penalty\": 0.5,"
        + " \"frequency_penalty\": 0.1, \"min_p\": 0.1";
    JsonNode whole = json(server.post(OpenAiEndpoints.COMPLETIONS, body + "}").body());
    assertThat(whole.at("/choices/0/text").asText()).isEqualTo("AAAAAA");
    JsonNode cut = json(server.post(OpenAiEndpoints.COMPLETIONS, body + ", \"stop\": \"AA\","
        + " \"include_stop_str_in_output\": true}").body());
    assertThat(cut.at("/choices/0/text").asText()).isEqualTo("AA");
    assertThat(cut.at("/usage/completion_tokens").asInt()).isEqualTo(2); // the engine stopped there
  }

  /** {@code batch_invariant}: the same answer and log-probs, as the JSON gives them, alone and beside 16 others. */
  @Test
  void aBatchInvariantCompletionIsTheSameAloneAndBesideOthers() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
        "batch-invariant decoding needs the Vector API kernels");
    String body = "{\"prompt\": \"" + escape(prompt) + "\", \"max_tokens\": 24, \"seed\": 5, \"logprobs\": 2,"
        + " \"batch_invariant\": true}";
    JsonNode alone = json(server.post(OpenAiEndpoints.COMPLETIONS, body).body()).path("choices").get(0);
    var others = java.util.concurrent.CompletableFuture.supplyAsync(() -> server.post(OpenAiEndpoints.COMPLETIONS,
        "{\"prompt\": \"" + escape(prompt) + "\", \"max_tokens\": 48, \"n\": 16, \"seed\": 9}"));
    JsonNode beside = json(server.post(OpenAiEndpoints.COMPLETIONS, body).body()).path("choices").get(0);
    assertThat(others.get(2, TimeUnit.MINUTES).status()).isEqualTo(200);
    assertThat(alone.path("logprobs").path("token_logprobs").size()).isPositive();
    assertThat(beside.path("text")).isEqualTo(alone.path("text"));
    assertThat(beside.path("logprobs")).isEqualTo(alone.path("logprobs"));
  }

  @Test
  void stopStringsCutTheTextInWholeAndStreamedAnswers() {
    String full = client.completions().create(completion(5).temperature(0.0).build()).choices().get(0).text();
    assertThat(full.length()).as(full).isGreaterThan(4);
    String stop = full.substring(full.length() / 2, full.length() / 2 + 2);
    String expected = full.substring(0, full.indexOf(stop));
    Completion cut = client.completions().create(completion(5).temperature(0.0).stop(stop).logprobs(0).build());
    CompletionChoice ch = cut.choices().get(0);
    assertThat(ch.text()).isEqualTo(expected);
    assertThat(ch.finishReason()).isEqualTo(CompletionChoice.FinishReason.STOP);
    // Tokens up to the one that completed the stop string count; none after it.
    long kept = expected.length() + 2;
    assertThat(cut.usage().orElseThrow().completionTokens()).isEqualTo(kept);
    assertThat(ch.logprobs().orElseThrow().tokens().orElseThrow()).hasSize((int) kept);
    StringBuilder streamed = new StringBuilder();
    try (StreamResponse<Completion> s = lenient.completions().createStreaming(completion(5).temperature(0.0)
        .stop(stop).build())) {
      s.stream().forEach(c -> c.choices().forEach(x -> streamed.append(x.text())));
    }
    assertThat(streamed.toString()).isEqualTo(expected);
    // Chat too.
    String chatFull = client.chat().completions().create(chat(5).temperature(0.0).build()).choices().get(0).message()
        .content().orElseThrow();
    ChatCompletion chatCut = client.chat().completions().create(chat(5).temperature(0.0).stop(stop).build());
    int at = chatFull.indexOf(stop);
    assertThat(chatCut.choices().get(0).message().content().orElseThrow())
        .isEqualTo(at < 0 ? chatFull : chatFull.substring(0, at));
  }

  /** Logprobs are the engine's sampling log-probs: teacher-forced scoring of the same tokens agrees. */
  @Test
  void legacyLogprobsAreTheEnginesAndScoringAgrees() throws Exception {
    double temperature = 0.8;
    Completion c = client.completions().create(completion(9).temperature(temperature).logprobs(5).build());
    CompletionChoice ch = c.choices().get(0);
    CompletionChoice.Logprobs lp = ch.logprobs().orElseThrow();
    List<String> tokens = lp.tokens().orElseThrow();
    List<Double> lps = lp.tokenLogprobs().orElseThrow();
    List<Long> offsets = lp.textOffset().orElseThrow();
    var tops = lp.topLogprobs().orElseThrow();
    long n = c.usage().orElseThrow().completionTokens();
    assertThat(tokens).hasSize((int) n);
    assertThat(lps).hasSize((int) n).allMatch(x -> Double.isFinite(x) && x <= 0);
    assertThat(offsets).hasSize((int) n);
    assertThat(tops).hasSize((int) n);
    for (int i = 0; i < n; i++) {
      Map<String, com.openai.core.JsonValue> top = tops.get(i)._allProperties();
      assertThat(top).hasSizeBetween(1, 6).containsKey(tokens.get(i));
    }
    // The text is the tokens' text, the EOS aside; each offset is where its token begins.
    String text = ch.text();
    assertThat(String.join("", tokens)).isEqualTo(text
        + (ch.finishReason().equals(CompletionChoice.FinishReason.STOP) ? "<|endoftext|>" : ""));
    for (int i = 0; i < n; i++) {
      assertThat(offsets.get(i)).isEqualTo((long) String.join("", tokens.subList(0, i)).length());
    }
    // Score prompt + answer teacher-forced at the sampling temperature.
    int[] promptIds = server.model.tokenizer().encode(prompt);
    int[] answer = server.model.tokenizer().encode(text);
    if (answer.length + 1 == n) {
      answer = Arrays.copyOf(answer, answer.length + 1);
      answer[answer.length - 1] = server.model.eosIds()[0];
    }
    assertThat(answer).hasSize((int) n);
    int[] seq = Arrays.copyOf(promptIds, promptIds.length + answer.length);
    System.arraycopy(answer, 0, seq, promptIds.length, answer.length);
    TokenScores scores = server.session.score(List.of(seq), temperature).get(1, TimeUnit.MINUTES).get(0);
    for (int i = 0; i < n; i++) {
      assertThat(lps.get(i)).as("token %d", i).isCloseTo(scores.logProbs()[promptIds.length - 1 + i], within(1e-4));
    }
  }

  @Test
  void chatLogprobsListTheTopCandidatesMostLikelyFirst() {
    ChatCompletion c = client.chat().completions().create(chat(4).temperature(1.0).logprobs(true).topLogprobs(3)
        .build());
    List<ChatCompletionTokenLogprob> content = c.choices().get(0).logprobs().orElseThrow().content().orElseThrow();
    assertThat(content).hasSize((int) c.usage().orElseThrow().completionTokens());
    for (ChatCompletionTokenLogprob t : content) {
      assertThat(t.logprob()).isFinite().isLessThanOrEqualTo(0);
      assertThat(t.bytes().orElseThrow()).isNotEmpty();
      List<ChatCompletionTokenLogprob.TopLogprob> top = t.topLogprobs();
      assertThat(top).hasSize(3);
      assertThat(top.get(0).logprob()).isGreaterThanOrEqualTo(top.get(1).logprob())
          .isGreaterThanOrEqualTo(t.logprob() - 1e-6);
    }
    // Without logprobs, none.
    assertThat(client.chat().completions().create(chat(4).build()).choices().get(0).logprobs()).isEmpty();
  }

  @Test
  void anotherModelIsNotFound() {
    assertThatThrownBy(() -> client.completions().create(completion(1).model("gpt-4o").build()))
        .isInstanceOf(NotFoundException.class).hasMessageContaining("model");
    assertThatThrownBy(() -> client.chat().completions().create(chat(1).model("gpt-4o").build()))
        .isInstanceOf(NotFoundException.class).hasMessageContaining("model");
  }

  @Test
  void severalPromptsGiveNChoicesEachInPromptOrder() {
    // "Q: 2+2=?\n" and "Q: 3*3=?\n" as byte tokens.
    String body = "{\"prompt\": [[81, 58, 32, 50, 43, 50, 61, 63, 10], [81, 58, 32, 51, 42, 51, 61, 63, 10]],"
        + " \"n\": 2, \"max_tokens\": 8, \"seed\": 1}";
    OpenAiTestServer.Reply r = server.post(OpenAiEndpoints.COMPLETIONS, body);
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    JsonNode choices = r.json().path("choices");
    assertThat(choices.size()).isEqualTo(4);
    for (int i = 0; i < 4; i++) {
      assertThat(choices.get(i).path("index").asInt()).isEqualTo(i);
    }
    assertThat(r.json().path("usage").path("prompt_tokens").asInt()).isEqualTo(18);
  }

  @Test
  void theKeyIsRequired() {
    OpenAiTestServer.Reply r = server.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create(server.base() + OpenAiEndpoints.CHAT)).header("Content-Type", "application/json")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{}")).build());
    assertThat(r.status()).isEqualTo(401);
    assertThat(r.json().path("error").path("type").asText()).isEqualTo("authentication_error");
  }

  @Test
  void bothPathsAreInTheOpenApiDocumentAndTheMetrics() {
    client.completions().create(completion(1).maxTokens(2).build());
    client.chat().completions().create(chat(1).maxCompletionTokens(2).build());
    JsonNode doc = server.get("/openapi.json").json();
    assertThat(doc.path("paths").has(OpenAiEndpoints.COMPLETIONS)).isTrue();
    assertThat(doc.path("paths").has(OpenAiEndpoints.CHAT)).isTrue();
    assertThat(server.server.routeList()).contains("POST " + OpenAiEndpoints.COMPLETIONS, "POST " + OpenAiEndpoints.CHAT);
    String metrics = server.get("/metrics").body();
    assertThat(metrics).contains("route=\"/v1/completions\",status=\"200\"")
        .contains("route=\"/v1/chat/completions\",status=\"200\"");
  }

  @Test
  void aRequestPastTheTimeoutIs504AndLeavesTheEngine() throws Exception {
    try (RolloutServer quick = server.another(ServerOptions.defaults().withRequestTimeout(Duration.ofMillis(1)))) {
      for (String path : List.of(OpenAiEndpoints.COMPLETIONS, OpenAiEndpoints.CHAT)) {
        String body = path.equals(OpenAiEndpoints.CHAT)
            ? "{\"messages\": [{\"role\": \"user\", \"content\": \"Q: 1+2=?\"}], \"n\": 8, \"max_tokens\": 200}"
            : "{\"prompt\": \"Q: 1+2=?\\n\", \"n\": 8, \"max_tokens\": 200, \"stream\": true}";
        OpenAiTestServer.Reply r = server.post(quick.port(), path, body, "application/json");
        if (r.status() == 200 && path.equals(OpenAiEndpoints.COMPLETIONS)) {
          // The stream's first tokens beat the 1 ms timer (a warm JVM does that): its status is
          // sent, so the timeout ends the stream with an error event instead.
          assertThat(r.body()).contains("\"timeout_error\"").endsWith("data: [DONE]\n\n");
          continue;
        }
        assertThat(r.status()).as(r.body()).isEqualTo(504);
        assertThat(r.json().path("error").path("type").asText()).isEqualTo("timeout_error");
      }
    }
    awaitIdleEngine();
  }

  /**
   * Admission: with one request allowed in flight, a second is answered 429; the first's client
   * going away cancels it, which frees its place and the engine.
   */
  @Test
  void theAdmissionBoundAndADisconnectWork() throws Exception {
    try (RolloutServer one = server.another(ServerOptions.defaults().withMaxInFlight(1))) {
      // 2048 answers at temperature 2 (some 40k tokens, more than the KV pool holds at once): it
      // runs for seconds, long after the checks below.
      String prompts = String.join(", ", java.util.Collections.nCopies(16, "\"Q: 1+2=?\\n\""));
      String body = "{\"prompt\": [" + prompts + "], \"n\": 128, \"max_tokens\": 480, \"temperature\": 2,"
          + " \"stream\": true}";
      try (Socket s = new Socket("127.0.0.1", one.port())) {
        OutputStream out = s.getOutputStream();
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + OpenAiTestServer.KEY
            + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (inFlight(one) == 0 && System.nanoTime() < deadline) {
          Thread.sleep(20);
        }
        assertThat(inFlight(one)).isEqualTo(1);
        OpenAiTestServer.Reply second = server.post(one.port(), OpenAiEndpoints.CHAT,
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2}", "application/json");
        assertThat(second.status()).as(second.body()).isEqualTo(429);
        assertThat(second.retryAfter()).isEqualTo("1");
        assertThat(second.json().path("error").path("type").asText()).isEqualTo("rate_limit_error");
      } // the client goes away
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (inFlight(one) != 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(inFlight(one)).isZero();
      awaitIdleEngine();
      OpenAiTestServer.Reply after = server.post(one.port(), OpenAiEndpoints.COMPLETIONS,
          "{\"prompt\": \"Q: 1+2=?\\n\", \"max_tokens\": 2}", "application/json");
      assertThat(after.status()).as(after.body()).isEqualTo(200);
    }
  }

  private static int inFlight(RolloutServer s) {
    OpenAiTestServer.Reply r = server.send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + s.port() + "/health")).GET().build());
    return r.json().path("requests_in_flight").asInt();
  }

  private static void awaitIdleEngine() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    EngineStats st = server.session.stats().get(1, TimeUnit.MINUTES);
    while ((st.activeRequests() > 0 || st.queuedRequests() > 0) && System.nanoTime() < deadline) {
      Thread.sleep(20);
      st = server.session.stats().get(1, TimeUnit.MINUTES);
    }
    assertThat(st.activeRequests()).isZero();
    assertThat(st.queuedRequests()).isZero();
  }

  /** A checkpoint with its own chat template: the server renders messages through it. */
  @Test
  void aCheckpointsOwnChatTemplateIsUsed(@TempDir Path dir) throws Exception {
    try (var files = Files.list(TestServer.bundledModel())) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|endoftext|>\", \"chat_template\":"
        + " \"{% for m in messages %}[{{ m.role }}] {{ m.content | trim }}\\n{% endfor %}"
        + "{% if add_generation_prompt %}{{ eos_token }}>{% endif %}\"}");
    try (OpenAiTestServer own = OpenAiTestServer.start(dir, ServerOptions.defaults())) {
      OpenAiTestServer.Reply r = own.post(OpenAiEndpoints.CHAT, "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
          + " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"text\", \"text\":"
          + " \"b\"}]}], \"max_tokens\": 3, \"model\": \"" + dir.getFileName() + "\"}");
      assertThat(r.status()).as(r.body()).isEqualTo(200);
      // Text parts join with a newline; eos_token is the special token's text, one token.
      int[] rendered = own.model.tokenizer().encode("[system] S\n[user] a\nb\n<|endoftext|>>");
      assertThat(rendered).hasSize(24);
      assertThat(r.json().path("usage").path("prompt_tokens").asInt()).isEqualTo(rendered.length);
    }
  }

  private static JsonNode json(String s) {
    try {
      return RolloutServer.JSON.readTree(s);
    } catch (java.io.IOException e) {
      throw new AssertionError(s, e);
    }
  }

  private static String escape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }
}
