package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class GenerateCommandTest {
  /** Greedy answers of the bundled model, cut by --stop; --chat on a model without a template renders a line. */
  @Test
  void generateStopsAtAStopStringAndRendersChat() throws Exception {
    String[] greedy = {"generate", "--model", RolloutCommandTest.MODEL, "--prompt", "Q: 17+4*6-9=?\n", "--temperature",
        "0", "--max-tokens", "24"};
    JsonNode whole = new ObjectMapper().readTree(CliRun.of(greedy).out().strip());
    String text = whole.get("text").asText();
    assertThat(text).as("a line to cut").contains("\n");
    String stop = text.substring(text.indexOf('\n') - 1, text.indexOf('\n') + 1); // spans two byte tokens
    JsonNode cut = new ObjectMapper().readTree(CliRun.of(cat(greedy, "--stop", stop)).out().strip());
    assertThat(cut.get("text").asText()).isEqualTo(text.substring(0, text.indexOf(stop)));
    assertThat(cut.get("finish_reason").asText()).isEqualTo("stop_string");
    JsonNode kept = new ObjectMapper().readTree(CliRun.of(cat(greedy, "--stop", stop, "--include-stop-str")).out().strip());
    assertThat(kept.get("text").asText()).isEqualTo(text.substring(0, text.indexOf(stop) + stop.length()));
    // No template: the fallback renders the message as its own line, so --chat adds the newline.
    JsonNode chat = new ObjectMapper().readTree(CliRun.of("generate", "--model", RolloutCommandTest.MODEL, "--prompt",
        "Q: 17+4*6-9=?", "--chat", "--temperature", "0", "--max-tokens", "24").out().strip());
    assertThat(chat.get("text").asText()).isEqualTo(text);
  }

  private static String[] cat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

}
