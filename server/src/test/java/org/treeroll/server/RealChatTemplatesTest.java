package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.treeroll.engine.tokenizer.TextTokenizer;

/**
 * The real Qwen3 and Llama 3 tokenizers and chat templates (scripts/fetch-tokenizers.sh): messages
 * render to the ids the template text defines. The expected ids are built here from the template's
 * literal pieces: special tokens by their ids in tokenizer.json's added_tokens, text between them
 * encoded piece by piece (special tokens split the text, so pieces encode alone).
 */
class RealChatTemplatesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<ChatTemplate.Message> CONVERSATION = List.of(
      new ChatTemplate.Message("system", "Be brief.", null),
      new ChatTemplate.Message("user", " What is 2+2? ", null));
  private static TextTokenizer qwen;
  private static TextTokenizer llama;

  @BeforeAll
  static void load() {
    qwen = TextTokenizer.load(dir("qwen3"));
    llama = TextTokenizer.load(dir("llama3"));
  }

  @AfterAll
  static void close() {
    qwen.close();
    llama.close();
  }

  private static Path dir(String name) {
    Path d = Path.of(System.getProperty("treeroll.tokenizers.dir", "../.cache/tokenizers")).resolve(name);
    assertThat(d.resolve("tokenizer_config.json")).as("run scripts/fetch-tokenizers.sh").exists();
    return d;
  }

  @Test
  void qwen3WithAndWithoutTheGenerationPromptAndWithThinkingOff() throws Exception {
    Ids q = new Ids(qwen, "qwen3");
    // The template: '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n' per message.
    int[] conversation = q.concat(
        q.special("<|im_start|>"), q.text("system\nBe brief."), q.special("<|im_end|>"), q.text("\n"),
        q.special("<|im_start|>"), q.text("user\n What is 2+2? "), q.special("<|im_end|>"), q.text("\n"));
    int[] generationPrompt = q.concat(q.special("<|im_start|>"), q.text("assistant\n"));
    ChatTemplate t = ChatTemplate.of(qwen.special());
    assertThat(render(qwen, t, new ChatTemplate.Options(false, Map.of()))).isEqualTo(conversation);
    assertThat(render(qwen, t, ChatTemplate.Options.ANSWER)).isEqualTo(q.concat(conversation, generationPrompt));
    // enable_thinking=false: the template writes an empty think block for the model.
    int[] noThinking = q.concat(conversation, generationPrompt, q.special("<think>"), q.text("\n\n"),
        q.special("</think>"), q.text("\n\n"));
    assertThat(render(qwen, t, new ChatTemplate.Options(true, Map.of("enable_thinking", false)))).isEqualTo(noThinking);
    assertThat(render(qwen, t, new ChatTemplate.Options(true, Map.of("enable_thinking", true))))
        .isEqualTo(q.concat(conversation, generationPrompt));
  }

  @Test
  void llama3StartsWithBeginOfTextAndTrimsContent() throws Exception {
    Ids l = new Ids(llama, "llama3");
    // The template: bos_token before the first message; per message '<|start_header_id|>' + role
    // + '<|end_header_id|>\n\n' + content|trim + '<|eot_id|>'; then the assistant header, always
    // (this template has no add_generation_prompt switch).
    int[] expected = l.concat(l.special("<|begin_of_text|>"),
        l.special("<|start_header_id|>"), l.text("system"), l.special("<|end_header_id|>"), l.text("\n\nBe brief."),
        l.special("<|eot_id|>"),
        l.special("<|start_header_id|>"), l.text("user"), l.special("<|end_header_id|>"), l.text("\n\nWhat is 2+2?"),
        l.special("<|eot_id|>"),
        l.special("<|start_header_id|>"), l.text("assistant"), l.special("<|end_header_id|>"), l.text("\n\n"));
    ChatTemplate t = ChatTemplate.of(llama.special());
    assertThat(expected[0]).isEqualTo(128000);
    assertThat(render(llama, t, ChatTemplate.Options.ANSWER)).isEqualTo(expected);
    assertThat(render(llama, t, new ChatTemplate.Options(false, Map.of()))).isEqualTo(expected);
  }

  private static int[] render(TextTokenizer tok, ChatTemplate t, ChatTemplate.Options o) {
    return tok.encode(t.render(CONVERSATION, o));
  }

  /** Expected ids from the template's pieces. */
  private record Ids(TextTokenizer tok, JsonNode tokenizerJson) {
    Ids(TextTokenizer tok, String name) throws Exception {
      this(tok, JSON.readTree(dir(name).resolve("tokenizer.json").toFile()));
    }

    /** A special token's id, read from tokenizer.json's added_tokens. */
    int[] special(String content) {
      for (JsonNode t : tokenizerJson.get("added_tokens")) {
        if (t.get("content").asText().equals(content)) {
          return new int[] {t.get("id").asInt()};
        }
      }
      throw new AssertionError(content + " is not an added token");
    }

    int[] text(String s) {
      return tok.encode(s);
    }

    int[] concat(int[]... parts) {
      return java.util.Arrays.stream(parts).flatMapToInt(IntStream::of).toArray();
    }
  }
}
