package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input to the OpenAI-compatible endpoints: each case is answered 4xx (never 5xx) with
 * OpenAI's error shape naming the field at fault (none for a body that is not a JSON object).
 */
class OpenAiBadInputTest {
  static final String C = OpenAiEndpoints.COMPLETIONS;
  static final String H = OpenAiEndpoints.CHAT;
  static final String JSON = "application/json";
  /** A valid chat request's messages, to add one bad field to. */
  static final String MSG = "\"messages\": [{\"role\": \"user\", \"content\": \"Q: 1+1=?\"}], \"max_tokens\": 4";

  static OpenAiTestServer server;

  @BeforeAll
  static void start() {
    server = OpenAiTestServer.start();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  static List<Arguments> cases() {
    List<Arguments> c = new ArrayList<>();
    // /v1/completions: the prompt.
    c.add(bad(C, "{}", 400, "prompt"));
    c.add(bad(C, "{\"prompt\": 5}", 400, "prompt"));
    c.add(bad(C, "{\"prompt\": []}", 400, "prompt"));
    c.add(bad(C, "{\"prompt\": \"\"}", 400, "prompt"));
    c.add(bad(C, "{\"prompt\": [1, \"a\"]}", 400, "prompt[1]"));
    c.add(bad(C, "{\"prompt\": [[1, 2], \"a\"]}", 400, "prompt[1]"));
    c.add(bad(C, "{\"prompt\": [\"a\", [1]]}", 400, "prompt[1]"));
    c.add(bad(C, "{\"prompt\": [99999]}", 400, "prompt[0]"));
    c.add(bad(C, "{\"prompt\": [[5, -1]]}", 400, "prompt[0][1]"));
    c.add(bad(C, "{\"prompt\": [{\"text\": \"a\"}]}", 400, "prompt[0]"));
    // Sampling and limits.
    c.add(bad(C, "{\"prompt\": \"x\", \"n\": 0}", 400, "n"));
    c.add(bad(C, "{\"prompt\": \"x\", \"n\": 129}", 400, "n"));
    c.add(bad(C, "{\"prompt\": \"x\", \"n\": \"2\"}", 400, "n"));
    c.add(bad(C, "{\"prompt\": \"x\", \"n\": 1.5}", 400, "n"));
    c.add(bad(C, "{\"prompt\": \"x\", \"temperature\": 3}", 400, "temperature"));
    c.add(bad(C, "{\"prompt\": \"x\", \"temperature\": \"hot\"}", 400, "temperature"));
    c.add(bad(C, "{\"prompt\": \"x\", \"top_p\": 0}", 400, "top_p"));
    c.add(bad(C, "{\"prompt\": \"x\", \"top_p\": 1.5}", 400, "top_p"));
    c.add(bad(C, "{\"prompt\": \"x\", \"max_tokens\": 0}", 400, "max_tokens"));
    c.add(bad(C, "{\"prompt\": \"x\", \"max_tokens\": 100000}", 400, "max_tokens"));
    c.add(bad(C, "{\"prompt\": \"xy\", \"max_tokens\": 511}", 400, "max_tokens"));
    c.add(bad(C, "{\"prompt\": \"x\", \"seed\": \"1\"}", 400, "seed"));
    c.add(bad(C, "{\"prompt\": \"x\", \"seed\": 1.5}", 400, "seed"));
    // Stop strings.
    c.add(bad(C, "{\"prompt\": \"x\", \"stop\": 5}", 400, "stop"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 400, "stop"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stop\": [\"\"]}", 400, "stop[0]"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stop\": [\"a\", 3]}", 400, "stop[1]"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stop\": \"" + "z".repeat(1025) + "\"}", 400, "stop"));
    // Log-probs and OpenAI fields not implemented.
    c.add(bad(C, "{\"prompt\": \"x\", \"logprobs\": 21}", 400, "logprobs"));
    c.add(bad(C, "{\"prompt\": \"x\", \"logprobs\": -1}", 400, "logprobs"));
    c.add(bad(C, "{\"prompt\": \"x\", \"logprobs\": true}", 400, "logprobs"));
    c.add(bad(C, "{\"prompt\": \"x\", \"echo\": true}", 400, "echo"));
    c.add(bad(C, "{\"prompt\": \"x\", \"best_of\": 3}", 400, "best_of"));
    c.add(bad(C, "{\"prompt\": \"x\", \"suffix\": \"end\"}", 400, "suffix"));
    // Sampling controls.
    c.add(bad(C, "{\"prompt\": \"x\", \"frequency_penalty\": 2.5}", 400, "frequency_penalty"));
    c.add(bad(C, "{\"prompt\": \"x\", \"presence_penalty\": 3}", 400, "presence_penalty"));
    c.add(bad(C, "{\"prompt\": \"x\", \"repetition_penalty\": 0}", 400, "repetition_penalty"));
    c.add(bad(C, "{\"prompt\": \"x\", \"min_p\": 1.5}", 400, "min_p"));
    c.add(bad(C, "{\"prompt\": \"x\", \"batch_invariant\": 1}", 400, "batch_invariant"));
    c.add(bad(C, "{\"prompt\": \"x\", \"include_stop_str_in_output\": 1}", 400, "include_stop_str_in_output"));
    c.add(bad(C, "{\"prompt\": \"x\", \"logit_bias\": [1]}", 400, "logit_bias"));
    c.add(bad(C, "{\"prompt\": \"x\", \"logit_bias\": {\"a\": 1}}", 400, "logit_bias.a"));
    c.add(bad(C, "{\"prompt\": \"x\", \"logit_bias\": {\"100000\": 1}}", 400, "logit_bias.100000"));
    c.add(bad(C, "{\"prompt\": \"x\", \"logit_bias\": {\"50\": -101}}", 400, "logit_bias.50"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"chat_template_kwargs\": 1}", 400,
        "chat_template_kwargs"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
        + " \"chat_template_kwargs\": {\"messages\": []}}", 400, "chat_template_kwargs.messages"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"add_generation_prompt\": 1}", 400,
        "add_generation_prompt"));
    c.add(bad(C, "{\"prompt\": \"x\", \"user\": 5}", 400, "user"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stream\": \"yes\"}", 400, "stream"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stream_options\": {\"include_usage\": true}}", 400, "stream_options"));
    c.add(bad(C, "{\"prompt\": \"x\", \"stream\": true, \"stream_options\": {\"foo\": 1}}", 400, "stream_options.foo"));
    c.add(bad(C, "{\"prompt\": \"x\", \"temprature\": 1}", 400, "temprature"));
    // The model.
    c.add(bad(C, "{\"prompt\": \"x\", \"model\": \"gpt-4\"}", 404, "model"));
    c.add(bad(C, "{\"prompt\": \"x\", \"model\": 7}", 400, "model"));
    // Not a JSON object.
    c.add(Arguments.of(C, "{prompt", JSON, 400, null));
    c.add(Arguments.of(C, "[1, 2]", JSON, 400, null));
    c.add(Arguments.of(C, "", JSON, 400, null));
    c.add(Arguments.of(C, "{\"prompt\": \"x\"}", "text/plain", 415, null));
    c.add(Arguments.of(C, "{\"prompt\": \"x\"}", null, 415, null));

    // /v1/chat/completions: messages.
    c.add(bad(H, "{}", 400, "messages"));
    c.add(bad(H, "{\"messages\": []}", 400, "messages"));
    c.add(bad(H, "{\"messages\": \"hi\"}", 400, "messages"));
    c.add(bad(H, "{\"messages\": [\"hi\"]}", 400, "messages[0]"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\"}]}", 400, "messages[0].content"));
    c.add(bad(H, "{\"messages\": [{\"content\": \"hi\"}]}", 400, "messages[0].role"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"tool\", \"content\": \"x\"}]}",
        400, "messages[1].role"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}", 400, "messages[0].role"));
    c.add(bad(H, "{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}", 400, "messages[0].role"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages[0].content"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": []}]}", 400, "messages[0].content"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\":"
        + " {\"url\": \"http://x\"}}]}]}", 400, "messages[0].content[0].type"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}", 400,
        "messages[0].content[0].text"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\", \"x\": 1}]}]}",
        400, "messages[0].content[0].x"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": [\"a\"]}]}", 400, "messages[0].content[0]"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\", \"mood\": \"x\"}]}", 400, "messages[0].mood"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\", \"tool_calls\": [{\"id\": \"1\"}]}]}",
        400, "messages[0].tool_calls"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\", \"name\": 3}]}", 400, "messages[0].name"));
    // Sampling, log-probs, limits.
    c.add(bad(H, "{" + MSG + ", \"n\": 0}", 400, "n"));
    c.add(bad(H, "{" + MSG + ", \"n\": 500}", 400, "n"));
    c.add(bad(H, "{" + MSG + ", \"temperature\": -1}", 400, "temperature"));
    c.add(bad(H, "{" + MSG + ", \"logprobs\": 1}", 400, "logprobs"));
    c.add(bad(H, "{" + MSG + ", \"top_logprobs\": 3}", 400, "top_logprobs"));
    c.add(bad(H, "{" + MSG + ", \"logprobs\": true, \"top_logprobs\": 21}", 400, "top_logprobs"));
    c.add(bad(H, "{" + MSG + ", \"max_completion_tokens\": 3}", 400, "max_completion_tokens"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_completion_tokens\": 0}", 400,
        "max_completion_tokens"));
    c.add(bad(H, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 600}", 400, "max_tokens"));
    c.add(bad(H, "{" + MSG + ", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 400, "stop"));
    c.add(bad(H, "{" + MSG + ", \"stop\": {\"a\": 1}}", 400, "stop"));
    // OpenAI features not implemented.
    c.add(bad(H, "{" + MSG + ", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}", 400, "tools"));
    c.add(bad(H, "{" + MSG + ", \"tool_choice\": \"auto\"}", 400, "tool_choice"));
    c.add(bad(H, "{" + MSG + ", \"response_format\": {\"type\": \"json_object\"}}", 400, "response_format"));
    c.add(bad(H, "{" + MSG + ", \"audio\": {\"voice\": \"x\"}}", 400, "audio"));
    c.add(bad(H, "{" + MSG + ", \"store\": true}", 400, "store"));
    c.add(bad(H, "{" + MSG + ", \"modalities\": [\"text\", \"audio\"]}", 400, "modalities"));
    c.add(bad(H, "{" + MSG + ", \"presence_penalty\": -2.5}", 400, "presence_penalty"));
    c.add(bad(H, "{" + MSG + ", \"stream\": true, \"stream_options\": \"yes\"}", 400, "stream_options"));
    c.add(bad(H, "{" + MSG + ", \"functions_x\": 1}", 400, "functions_x"));
    c.add(bad(H, "{" + MSG + ", \"prompt\": \"x\"}", 400, "prompt"));
    c.add(bad(H, "{" + MSG + ", \"model\": \"other\"}", 404, "model"));
    c.add(Arguments.of(H, "{\"messages\": ", JSON, 400, null));
    c.add(Arguments.of(H, "{\"messages\": []}", "application/x-www-form-urlencoded", 415, null));
    return c;
  }

  private static Arguments bad(String path, String body, int status, String param) {
    return Arguments.of(path, body, JSON, status, param);
  }

  @ParameterizedTest(name = "[{index}] {0} {1} -> {3} {4}")
  @MethodSource("cases")
  void isRefusedNamingTheField(String path, String body, String contentType, int status, String param) {
    OpenAiTestServer.Reply r = server.post(server.server.port(), path, body, contentType);
    assertThat(r.status()).as(r.body()).isEqualTo(status);
    assertThat(r.contentType()).startsWith("application/json");
    JsonNode e = r.json().path("error");
    assertThat(e.path("code").asInt()).isEqualTo(status);
    assertThat(e.path("type").asText()).isEqualTo(status == 404 ? "not_found_error" : "invalid_request_error");
    assertThat(e.path("message").asText()).isNotBlank();
    if (param == null) {
      assertThat(e.path("param").isNull()).as(r.body()).isTrue();
    } else {
      assertThat(e.path("param").asText()).as(r.body()).isEqualTo(param);
      assertThat(e.path("message").asText()).startsWith(param + ": ");
    }
  }

  @org.junit.jupiter.api.Test
  void theTableIsLargeAndCoversBothEndpoints() {
    List<Arguments> all = cases();
    assertThat(all).hasSizeGreaterThanOrEqualTo(40);
    assertThat(all.stream().filter(a -> a.get()[0].equals(C)).count()).isGreaterThanOrEqualTo(20);
    assertThat(all.stream().filter(a -> a.get()[0].equals(H)).count()).isGreaterThanOrEqualTo(20);
  }
}
