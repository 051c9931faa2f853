package org.treeroll.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.TreeRollException;

class TextTokenizerTest {
  private static final String MIXED = "héllo wörld, 你好 🙂\n\tend";

  @Test
  void byteLevelTokenizerRoundTripsAnyText(@TempDir Path dir) {
    ByteLevelTokenizerJson.write(dir.resolve("tokenizer.json"), List.of("<|endoftext|>", "<|im_end|>"));
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      int[] ids = t.encode(MIXED);
      // One id per UTF-8 byte, no merges.
      assertThat(ids).hasSize(MIXED.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
      assertThat(java.util.Arrays.stream(ids).allMatch(id -> id >= 0 && id < 256)).isTrue();
      assertThat(t.decode(ids, false)).isEqualTo(MIXED);
      assertThat(t.encode("A")).containsExactly((int) 'A');
      assertThat(t.encode("x<|im_end|>")).containsExactly((int) 'x', 257);
      assertThat(t.decode(new int[] {(int) 'x', 257}, true)).isEqualTo("x");
      assertThat(t.addedTokenIds()).containsExactly(256, 257);
      assertThat(t.padId()).as("no pad token, no eos: nothing to pad with").isEqualTo(-1);
    }
  }

  @Test
  void padIdFallsBackToTheFirstEosId(@TempDir Path dir) throws Exception {
    ByteLevelTokenizerJson.write(dir.resolve("tokenizer.json"), List.of("<|endoftext|>", "<|im_end|>"));
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|im_end|>\"}");
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.padId()).isEqualTo(257);
    }
    Files.writeString(dir.resolve("tokenizer_config.json"),
        "{\"eos_token\": \"<|im_end|>\", \"pad_token\": \"<|endoftext|>\"}");
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.padId()).isEqualTo(256);
    }
  }

  @Test
  void longTextsAreNeverTruncated(@TempDir Path dir) {
    // DJL's default builder truncates at 512 tokens; an LLM tokenizer must not.
    ByteLevelTokenizerJson.write(dir.resolve("tokenizer.json"), List.of());
    String text = "0123456789".repeat(400);
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.encode(text)).hasSize(4000);
      assertThat(t.decode(t.encode(text), false)).isEqualTo(text);
    }
  }

  @Test
  void qwen3TokenizerRoundTripsAndKnowsItsSpecialTokens() {
    Path dir = QwenTokenizer.dir();
    try (TextTokenizer t = TextTokenizer.load(dir)) {
      assertThat(t.encode("Hello world")).containsExactly(9707, 1879);
      for (String s : List.of("The answer is \\boxed{42}.", MIXED, "Ünïcödé — ¿qué? 日本語のテキスト")) {
        assertThat(t.decode(t.encode(s), false)).isEqualTo(s);
      }
      assertThat(t.encode("<|endoftext|>")).containsExactly(151643);
      assertThat(t.encode("<|im_start|>")).containsExactly(151644);
      assertThat(t.encode("<|im_end|>")).containsExactly(151645);
      int[] chat = t.encode("<|im_start|>user\nHi<|im_end|>");
      assertThat(chat[0]).isEqualTo(151644);
      assertThat(chat[chat.length - 1]).isEqualTo(151645);
      assertThat(t.decode(chat, true)).isEqualTo("user\nHi");
      SpecialTokens sp = t.special();
      assertThat(sp.eosToken()).isEqualTo("<|im_end|>");
      assertThat(sp.eosIds()).contains(151645);
      assertThat(sp.padToken()).isEqualTo("<|endoftext|>");
      assertThat(t.padId()).isEqualTo(151643);
      assertThat(sp.chatTemplate()).contains("<|im_start|>");
      // 26 added tokens from <|endoftext|> to </think>, the base vocabulary below them.
      assertThat(t.addedTokenIds()).hasSize(26).startsWith(151643).endsWith(151668);
    }
  }

  @Test
  void missingAndBrokenFilesAreNamed(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> TextTokenizer.load(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("tokenizer.json: file not found");
    ByteLevelTokenizerJson.write(dir.resolve("tokenizer.json"), List.of());
    Files.writeString(dir.resolve("tokenizer_config.json"), "{broken");
    assertThatThrownBy(() -> TextTokenizer.load(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("tokenizer_config.json: not valid JSON");
  }
}
