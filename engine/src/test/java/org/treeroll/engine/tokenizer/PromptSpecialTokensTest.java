package org.treeroll.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The special tokens a text prompt gets, with the real Llama 3 and Qwen3 tokenizers: what HF's
 * {@code tokenizer(text)} gives, from tokenizer_config.json's add_bos_token / add_eos_token or
 * else tokenizer.json's post-processor.
 */
class PromptSpecialTokensTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int BEGIN_OF_TEXT = 128000; // tokenizer.json's added token <|begin_of_text|>
  private static final int END_OF_TEXT = 128001;
  private static final String TEXT = "What is 2+2?";

  @Test
  void qwen3SetsAddBosTokenFalse() {
    try (TextTokenizer tok = TextTokenizer.load(QwenTokenizer.dir())) {
      assertThat(tok.encodePrompt(TEXT)).isEqualTo(tok.encode(TEXT));
    }
  }

  @Test
  void llama3AsFetchedHasNoBosRuleSoNothingIsAdded() {
    // This copy's tokenizer.json post-processor is ByteLevel alone and its config sets no
    // add_bos_token: HF's tokenizer adds nothing either.
    try (TextTokenizer tok = TextTokenizer.load(QwenTokenizer.llama3Dir())) {
      assertThat(tok.encodePrompt(TEXT)).isEqualTo(tok.encode(TEXT));
    }
  }

  /** Meta's checkpoints ship tokenizer.json with a TemplateProcessing post-processor that adds BOS. */
  @Test
  void llama3WithMetasPostProcessorGetsBeginOfTextOnce(@TempDir Path dir) throws Exception {
    Path src = QwenTokenizer.llama3Dir();
    ObjectNode tj = (ObjectNode) JSON.readTree(src.resolve("tokenizer.json").toFile());
    // As in Meta-Llama-3.1-8B-Instruct's tokenizer.json.
    ObjectNode template = (ObjectNode) JSON.readTree("""
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000],
                                                  "tokens": ["<|begin_of_text|>"]}}}
        """);
    ObjectNode seq = JSON.createObjectNode().put("type", "Sequence");
    seq.putArray("processors").add(tj.get("post_processor")).add(template);
    tj.set("post_processor", seq);
    JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tj);
    Files.copy(src.resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
    try (TextTokenizer tok = TextTokenizer.load(dir)) {
      int[] bare = tok.encode(TEXT);
      assertThat(tok.encodePrompt(TEXT)).isEqualTo(prepend(BEGIN_OF_TEXT, bare));
      // A text that already begins with the BOS keeps one.
      assertThat(tok.encodePrompt("<|begin_of_text|>" + TEXT)).isEqualTo(prepend(BEGIN_OF_TEXT, bare));
    }
  }

  @Test
  void addBosAndEosTokenInTheConfigAreFollowed(@TempDir Path dir) throws Exception {
    Path src = QwenTokenizer.llama3Dir();
    Files.copy(src.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
    ObjectNode tc = (ObjectNode) JSON.readTree(src.resolve("tokenizer_config.json").toFile());
    tc.put("add_bos_token", true).put("add_eos_token", true);
    JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
    try (TextTokenizer tok = TextTokenizer.load(dir)) {
      int[] bare = tok.encode(TEXT);
      int[] expected = IntStream.concat(IntStream.concat(IntStream.of(BEGIN_OF_TEXT), IntStream.of(bare)),
          IntStream.of(END_OF_TEXT)).toArray();
      assertThat(tok.encodePrompt(TEXT)).isEqualTo(expected);
    }
  }

  private static int[] prepend(int id, int[] ids) {
    return IntStream.concat(IntStream.of(id), IntStream.of(ids)).toArray();
  }
}
