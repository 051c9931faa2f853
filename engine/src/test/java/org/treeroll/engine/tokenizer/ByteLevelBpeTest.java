package org.treeroll.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Java byte-level BPE gives the Rust tokenizers' ids and text, token for token, on the real
 * Qwen3 and Llama 3 tokenizers, the bundled model's byte tokenizer and a GPT-2-style one (the
 * ByteLevel pre-tokenizer's own regex over Qwen's vocabulary): hand-picked hard cases
 * (NFC, contractions, digit runs, whitespace runs, emoji, special tokens inside text) and
 * seeded random text over many scripts.
 */
class ByteLevelBpeTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;

  static Stream<Arguments> tokenizers() throws Exception {
    // GPT-2's scheme: the ByteLevel pre-tokenizer splitting with its own regex (Qwen's vocabulary).
    ObjectNode gpt2 = (ObjectNode) JSON.readTree(QwenTokenizer.dir().resolve("tokenizer.json").toFile());
    gpt2.putNull("normalizer");
    gpt2.set("pre_tokenizer", JSON.readTree(
        "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}"));
    Path gpt2File = tmp.resolve("gpt2-style.json");
    JSON.writeValue(gpt2File.toFile(), gpt2);
    return Stream.of(
        Arguments.of("qwen3", QwenTokenizer.dir().resolve("tokenizer.json")),
        Arguments.of("byte-level regex", gpt2File),
        Arguments.of("llama3", QwenTokenizer.llama3Dir().resolve("tokenizer.json")),
        Arguments.of("bundled", Path.of(System.getProperty("treeroll.models.dir", "../models"), "treeroll-arith/tokenizer.json")));
  }

  private static final List<String> HARD = List.of(
      "", " ", "  ", "\n", "Hello, world!", "What is 2+2?", "I'll say it's 12345678901 and WE'RE done'S",
      "e\u0301 caf\u00e9 \u1100\u1161\u11a8 Angstr\u00f6m \u212b", // decomposed forms NFC joins
      "<|im_start|>user\nWhat is 7*8?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n56",
      "<|im_sta <|im_start|<|im_start|><|im_start|>", "<|begin_of_text|>hi<|eot_id|>",
      "def f(x):\n\treturn x  \n\n\n    # done\r\n", "\u00a0\u3000 \u2003x\u2028y", "a   \n  b\n\n\nc     ",
      "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u3053\u3093\u306b\u3061\u306f", "\ud83d\udc4d\ud83c\udffd \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67",
      "\u0645\u0631\u062d\u0628\u0627 \u0661\u0662\u0663", "\\frac{1}{2} = 0.5; x^2 + y^2 = z^2 $$\\sum_{i=1}^{n} i$$",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "https://example.com/path?q=1&r=2#frag", "\u0130stanbul \u017fs \u212a ABC'S 'LL",
      // Long runs: one piece of 20,000 bytes for BPE, whitespace the regex backtracks over.
      " ".repeat(20_000) + "x", "a".repeat(20_000), "7".repeat(20_000), ("x" + " ".repeat(50) + "\n").repeat(400));

  @ParameterizedTest(name = "{0}")
  @MethodSource("tokenizers")
  void encodesAndDecodesAsTheRustTokenizers(String name, Path file) throws Exception {
    JsonNode json = JSON.readTree(file.toFile());
    ByteLevelBpe java = ByteLevelBpe.of(json);
    List<String> texts = new ArrayList<>(HARD);
    Random random = new Random(42);
    for (int i = 0; i < 300; i++) {
      texts.add(randomText(random, 1 + random.nextInt(i < 250 ? 40 : 2000)));
    }
    try (RustTokenizer rust = new RustTokenizer(file)) {
      for (String text : texts) {
        for (boolean post : new boolean[] {false, true}) {
          int[] ids = rust.encode(text, post);
          assertThat(java.encode(text, post)).as("%s, post-processor %s: %s", name, post, text).isEqualTo(ids);
          for (boolean skip : new boolean[] {false, true}) {
            assertThat(java.decode(ids, skip)).as("decode %s", text).isEqualTo(rust.decode(ids, skip));
          }
        }
      }
      int vocab = json.path("model").path("vocab").size() + json.path("added_tokens").size();
      for (int i = 0; i < 300; i++) {
        // Any ids, including ones that split a character's UTF-8 bytes: invalid bytes become U+FFFD the same way.
        int[] ids = random.ints(1 + random.nextInt(12), 0, vocab).toArray();
        for (boolean skip : new boolean[] {false, true}) {
          assertThat(java.decode(ids, skip)).isEqualTo(rust.decode(ids, skip));
        }
      }
    }
  }

  /** Text drawn from ASCII, whitespace, several scripts, combining marks, emoji and special-token pieces. */
  private static String randomText(Random r, int length) {
    String[] pieces = {" ", "  ", "\n", "\t", "\r\n", "'s", "'LL", "<|im_end|>", "<|", "|>", "<think>", "\u00a0", "0"};
    int[][] ranges = {{0x21, 0x7e}, {0x21, 0x7e}, {0x21, 0x7e}, {0x30, 0x39}, {0xa1, 0x17f}, {0x391, 0x3c9},
        {0x410, 0x44f}, {0x4e00, 0x4fff}, {0x3040, 0x30ff}, {0xac00, 0xacff}, {0x300, 0x36f}, {0x660, 0x669},
        {0x1f300, 0x1f64f}, {0x2000, 0x206f}};
    StringBuilder sb = new StringBuilder();
    while (sb.length() < length) {
      if (r.nextInt(6) == 0) {
        sb.append(pieces[r.nextInt(pieces.length)]);
      } else {
        int[] range = ranges[r.nextInt(ranges.length)];
        sb.appendCodePoint(range[0] + r.nextInt(range[1] - range[0] + 1));
      }
    }
    return sb.toString();
  }

  @Test
  void aTemplatePostProcessorAddsItsTokensAroundTheText() throws Exception {
    ObjectNode json = (ObjectNode) JSON.readTree(QwenTokenizer.llama3Dir().resolve("tokenizer.json").toFile());
    json.set("post_processor", JSON.readTree("""
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "<|end_of_text|>", "type_id": 0}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000], "tokens": ["<|begin_of_text|>"]},
                            "<|end_of_text|>": {"id": "<|end_of_text|>", "ids": [128001], "tokens": ["<|end_of_text|>"]}}}
        """));
    ByteLevelBpe java = ByteLevelBpe.of(json);
    int[] text = java.encode("Hi there", false);
    assertThat(java.encode("Hi there", true)).startsWith(128000).endsWith(128001).hasSize(text.length + 2);
  }

  @Test
  void otherKindsAreRefusedNamingTheField(@TempDir Path dir) throws Exception {
    ObjectNode json = (ObjectNode) JSON.readTree(QwenTokenizer.dir().resolve("tokenizer.json").toFile());
    json.set("normalizer", JSON.readTree("{\"type\": \"Lowercase\"}"));
    assertThatThrownBy(() -> ByteLevelBpe.of(json)).isInstanceOf(ByteLevelBpe.Unsupported.class)
        .hasMessageContaining("normalizer").hasMessageContaining("Lowercase");
    ObjectNode sentencePiece = (ObjectNode) JSON.readTree(QwenTokenizer.dir().resolve("tokenizer.json").toFile());
    ((ObjectNode) sentencePiece.get("model")).put("byte_fallback", true);
    assertThatThrownBy(() -> ByteLevelBpe.of(sentencePiece)).hasMessageContaining("byte_fallback");
    // Such a file still loads, through the Rust tokenizers.
    Files.copy(QwenTokenizer.dir().resolve("tokenizer_config.json"), dir.resolve("tokenizer_config.json"));
    JSON.writeValue(dir.resolve("tokenizer.json").toFile(), json);
    try (TextTokenizer tok = TextTokenizer.load(dir)) {
      assertThat(tok.decode(tok.encode("Hello World"), false)).isEqualTo("hello world");
    }
  }
}
