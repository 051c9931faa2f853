package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.treeroll.engine.sampling.StopStrings;

/**
 * Stop strings and incremental decoding over a byte-level vocabulary like the bundled model's:
 * ids 0-255 are bytes, 256 is EOS (shown as nothing).
 */
class TextStreamTest {
  static final int EOS = 256;

  static String decode(int[] ids) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (int id : ids) {
      if (id != EOS) {
        b.write(id);
      }
    }
    return b.toString(StandardCharsets.UTF_8); // incomplete characters read as U+FFFD
  }

  static int[] bytes(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    int[] ids = new int[b.length];
    for (int i = 0; i < b.length; i++) {
      ids[i] = b[i] & 0xff;
    }
    return ids;
  }

  /** Feeds every token; answers what was shown after each, then the rest. */
  static List<String> shown(TextStream s, int[] ids) {
    List<String> out = new ArrayList<>();
    for (int id : ids) {
      out.add(s.add(id));
    }
    out.add(s.finish());
    return out;
  }

  @Test
  void withoutStopsTheTextIsTheDecodedAnswerAndEosShowsNothing() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of());
    int[] ids = concat(bytes("12+3=15\n"), new int[] {EOS});
    List<String> out = shown(s, ids);
    assertThat(String.join("", out)).isEqualTo("12+3=15\n");
    assertThat(out.subList(0, 8)).containsExactly("1", "2", "+", "3", "=", "1", "5", "\n");
    assertThat(s.text()).isEqualTo("12+3=15\n");
    assertThat(s.stopped()).isFalse();
    assertThat(s.keptTokens()).isEqualTo(ids.length);
  }

  @Test
  void aCharacterSplitOverTokensShowsOnceComplete() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of());
    int[] ids = bytes("aé€b"); // 1 + 2 + 3 + 1 bytes
    List<String> out = shown(s, ids);
    assertThat(out).containsExactly("a", "", "é", "", "", "€", "b", "");
    assertThat(out).noneMatch(t -> t.contains("\uFFFD"));
  }

  @Test
  void anUnfinishedCharacterAtTheEndIsShownAsIs() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of());
    int[] ids = {'a', 0xE2, 0x82};
    List<String> out = shown(s, ids);
    assertThat(out).containsExactly("a", "", "", "\uFFFD");
  }

  @Test
  void theTextIsCutBeforeTheFirstStopAndLaterTokensAreIgnored() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of("\n"));
    int[] ids = bytes("7*3=21\n21-4=17\n");
    List<String> out = shown(s, ids);
    assertThat(String.join("", out)).isEqualTo("7*3=21");
    assertThat(s.text()).isEqualTo("7*3=21");
    assertThat(s.stopped()).isTrue();
    assertThat(s.keptTokens()).as("up to the token that completed the stop").isEqualTo(7);
  }

  @Test
  void aPossibleStartOfAStopIsHeldBackUntilItIsNot() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of("END"));
    List<String> out = shown(s, bytes("xENxEND!"));
    // "EN" waits (it may begin END), then shows with the x that proves it does not.
    assertThat(out).containsExactly("x", "", "", "ENx", "", "", "", "", "");
    assertThat(s.text()).isEqualTo("xENx");
    assertThat(s.keptTokens()).isEqualTo(7);
  }

  @Test
  void heldBackTextThatNeverBecameAStopShowsAtTheEnd() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of("###"));
    List<String> out = shown(s, bytes("ab##"));
    assertThat(out).containsExactly("a", "b", "", "", "##");
    assertThat(s.stopped()).isFalse();
  }

  @Test
  void theEarliestOfSeveralStopsWins() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of("cd", "bcde"));
    // Both lie in the text once "e" arrives; "cd" completes first (at "d"), so it wins there.
    assertThat(String.join("", shown(s, bytes("abcdef")))).isEqualTo("ab");
    assertThat(s.keptTokens()).isEqualTo(4);
    TextStream t = new TextStream(TextStreamTest::decode, List.of("d", "bcd"));
    // Completed by the same token, the one that begins earlier wins.
    assertThat(String.join("", shown(t, bytes("abcdx")))).isEqualTo("a");
  }

  @Test
  void theStopThatEndsFirstWinsWhateverTheTokensHold() {
    String[] vocab = {"a", "bcde", "f"};
    java.util.function.Function<int[], String> words = ids -> {
      StringBuilder b = new StringBuilder();
      for (int id : ids) {
        b.append(vocab[id]);
      }
      return b.toString();
    };
    // One token brings both; "cd" ends before "bcde" does, as it would byte by byte.
    TextStream s = new TextStream(words, List.of("bcde", "cd"));
    assertThat(String.join("", shown(s, new int[] {0, 1, 2}))).isEqualTo("ab");
    assertThat(s.keptTokens()).isEqualTo(2);
  }

  @Test
  void aStopThatOverlapsItselfIsFound() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of("aab"));
    assertThat(String.join("", shown(s, bytes("xaaab!")))).isEqualTo("xa");
    TextStream t = new TextStream(TextStreamTest::decode, List.of("abab"));
    assertThat(String.join("", shown(t, bytes("ababab")))).isEqualTo("");
    assertThat(t.keptTokens()).isEqualTo(4);
  }

  @Test
  void aStopInsideAMultiByteTokenRunIsFound() {
    TextStream s = new TextStream(TextStreamTest::decode, List.of("€"));
    assertThat(String.join("", shown(s, bytes("a€b")))).isEqualTo("a");
    assertThat(s.keptTokens()).isEqualTo(4);
  }

  @Test
  void theAnswerIsTheSameWhetherReadPieceByPieceOrWhole() {
    SampledAnswer a = answer(concat(bytes("Q=12\nA: 3 \u00e9t\u00e9 END more"), new int[] {EOS}));
    SampledAnswer.Text t = a.text(new StopStrings(List.of("END", "zz"), false), TextStreamTest::decode);
    assertThat(t.pieces().stream().map(SampledAnswer.Piece::text).reduce("", String::concat)).isEqualTo(t.text());
    assertThat(t.text()).isEqualTo("Q=12\nA: 3 \u00e9t\u00e9 ");
    assertThat(t.finishReason()).isEqualTo("stop");
    // The pieces' tokens are consecutive and end with the one that completed the stop.
    int at = 0;
    for (SampledAnswer.Piece p : t.pieces()) {
      assertThat(p.from()).isEqualTo(at);
      at = p.to();
    }
    assertThat(at).isEqualTo(t.kept()).isEqualTo(bytes("Q=12\nA: 3 \u00e9t\u00e9 END").length);
    assertThat(t.offsets()).hasSize(t.kept()).startsWith(0, 1, 2, 3, 4);
    // include_stop_str_in_output: the text keeps the stop string, the same tokens count.
    SampledAnswer.Text with = a.text(new StopStrings(List.of("END", "zz"), true), TextStreamTest::decode);
    assertThat(with.text()).isEqualTo("Q=12\nA: 3 \u00e9t\u00e9 END");
    assertThat(with.kept()).isEqualTo(t.kept());
  }

  @Test
  void anAnswerCutByItsTokenLimitReadsLength() {
    SampledAnswer a = answer(bytes("1+1=2"));
    SampledAnswer.Text t = a.text(StopStrings.NONE, TextStreamTest::decode);
    assertThat(t.finishReason()).isEqualTo("length");
    assertThat(t.kept()).isEqualTo(5);
    assertThat(t.offsets()).containsExactly(0, 1, 2, 3, 4);
  }

  private static SampledAnswer answer(int[] tokens) {
    boolean eos = tokens.length > 0 && tokens[tokens.length - 1] == EOS;
    int[][] ids = new int[tokens.length][0];
    float[][] lps = new float[tokens.length][0];
    return new SampledAnswer(0, 0, tokens, new float[tokens.length], ids, lps,
        eos ? org.treeroll.tree.FinishReason.EOS : org.treeroll.tree.FinishReason.MAX_TOKENS);
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
