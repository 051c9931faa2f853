package org.treeroll.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class StopStringsTest {
  /** Tokens of a tokenizer that splits words oddly, one UTF-8 character across two tokens. */
  private static final List<byte[]> PIECES = List.of(bytes("The ans"), bytes("wer is"), bytes(" 4"), bytes("2.\n"),
      bytes("\n##"), new byte[] {(byte) 0xC3}, new byte[] {(byte) 0xA9, 'x'});

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** Decodes as a byte-level tokenizer does: the bytes joined, invalid UTF-8 as U+FFFD. */
  private static final Function<int[], String> DECODE = ids -> {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (int id : ids) {
      out.writeBytes(PIECES.get(id));
    }
    return out.toString(StandardCharsets.UTF_8);
  };

  @Test
  void aStopStringSplitAcrossTokensIsFoundByTheTokenThatCompletesIt() {
    StopStrings stop = new StopStrings(List.of("2.\n\n"), false);
    IntArrayList out = new IntArrayList();
    for (int id : new int[] {0, 1, 2, 3}) {
      out.add(id);
      assertThat(stop.completedBy(out, DECODE)).as("after token %d", id).isFalse();
    }
    out.add(4); // "\n##" completes "2.\n\n"
    assertThat(stop.completedBy(out, DECODE)).isTrue();
    String text = DECODE.apply(out.toIntArray());
    assertThat(text).isEqualTo("The answer is 42.\n\n##");
    assertThat(stop.cut(text)).isEqualTo("The answer is 4");
    assertThat(new StopStrings(List.of("2.\n\n"), true).cut(text)).isEqualTo("The answer is 42.\n\n");
  }

  @Test
  void aStopStringInsideOneTokenAndAMultiByteCharacterSplitOverTwo() {
    StopStrings inside = new StopStrings(List.of("swe"), false);
    assertThat(inside.completedBy(IntArrayList.of(0), DECODE)).isFalse();
    assertThat(inside.completedBy(IntArrayList.of(0, 1), DECODE)).isTrue();
    StopStrings accent = new StopStrings(List.of("\u00e9x"), false);
    assertThat(accent.completedBy(IntArrayList.of(2, 5), DECODE)).isFalse(); // half of é
    assertThat(accent.completedBy(IntArrayList.of(2, 5, 6), DECODE)).isTrue();
    assertThat(accent.cut(DECODE.apply(new int[] {2, 5, 6}))).isEqualTo(" 4");
  }

  @Test
  void textAlreadyBeforeTheLastTokenDoesNotStopAgainAndTheEarliestEndingStopCuts() {
    StopStrings stop = new StopStrings(List.of("ans"), false);
    assertThat(stop.completedBy(IntArrayList.of(0), DECODE)).isTrue();
    assertThat(stop.completedBy(IntArrayList.of(0, 1), DECODE)).isFalse();
    // "answer" ends after "ans" begins: the one ending first wins, the longer when both end together.
    assertThat(new StopStrings(List.of("answer", "ns"), false).cut("The answer")).isEqualTo("The a");
    assertThat(new StopStrings(List.of("s", "ans"), false).cut("The answer")).isEqualTo("The ");
  }
}
