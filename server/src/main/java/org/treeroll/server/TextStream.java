package org.treeroll.server;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.treeroll.engine.sampling.StopStrings;

/**
 * The text of an answer as its tokens arrive, with OpenAI's stop strings (the engine stops on
 * token ids only). Tokens are decoded incrementally, each against the one before it (so a
 * tokenizer's joins show right); a token that ends inside a multi-byte character shows nothing
 * until the character is complete. The text is matched against the stop strings a character at a
 * time: the first to end in it cuts the text where it begins, and every later token is ignored,
 * however the tokens group the characters. Text that could be the start of a stop string is held
 * back until it is not, so a streamed answer never shows a stop string's head. Non-streamed
 * answers go through the same steps, so both read the same.
 */
final class TextStream {
  private final Function<int[], String> decode;
  private final List<StopMatcher> stops;
  private final boolean includeStop;
  private int[] tokens = new int[16];
  private int count;
  /** Tokens before {@code prefix} are settled and decoded into {@code text}; {@code read} ends the last settled piece. */
  private int prefix;
  private int read;
  private final StringBuilder text = new StringBuilder();
  private int sent;
  private int kept = -1;

  /** @param decode token ids to text, special tokens skipped */
  TextStream(Function<int[], String> decode, StopStrings stop) {
    this.decode = decode;
    this.stops = stop.strings().stream().map(StopMatcher::new).toList();
    this.includeStop = stop.include();
  }

  /** Stop strings left out of the text. */
  TextStream(Function<int[], String> decode, List<String> stops) {
    this(decode, new StopStrings(stops, false));
  }

  /** Whether a stop string ended the text: tokens given after that are ignored. */
  boolean stopped() {
    return kept >= 0;
  }

  /** Tokens that count: all given, or up to and including the one that completed the stop string. */
  int keptTokens() {
    return stopped() ? kept : count;
  }

  /** Characters of settled text so far: where the next token's text will begin. */
  int offset() {
    return text.length();
  }

  /** Feeds the next token; answers the text that may be shown now (often "", never null). */
  String add(int token) {
    if (stopped()) {
      return "";
    }
    if (count == tokens.length) {
      tokens = Arrays.copyOf(tokens, count * 2);
    }
    tokens[count++] = token;
    String before = decode(prefix, read);
    String now = decode(prefix, count);
    // U+FFFD at the end: the token ends inside a character; wait for the rest of its bytes.
    if (now.length() > before.length() && !now.endsWith("\uFFFD")) {
      append(now.substring(before.length()));
      prefix = read;
      read = count;
    }
    return release(false);
  }

  /** The end of the answer: whatever was held back (an unfinished character too). */
  String finish() {
    if (!stopped() && read < count) {
      String before = decode(prefix, read);
      String now = decode(prefix, count);
      if (now.length() > before.length()) {
        append(now.substring(before.length()));
      }
      read = count;
    }
    return release(true);
  }

  /** The text shown so far, and in the end the answer's text. */
  String text() {
    return text.substring(0, sent);
  }

  /**
   * Appends settled text one character at a time; the first stop string to end in it (of two
   * ending at the same character, the longer) cuts the text where it begins, or where it ends
   * when stop strings are included.
   */
  private void append(String piece) {
    for (int i = 0; i < piece.length(); i++) {
      char c = piece.charAt(i);
      text.append(c);
      int cut = -1;
      for (StopMatcher m : stops) {
        if (m.advance(c)) {
          cut = cut < 0 ? text.length() - m.length() : Math.min(cut, text.length() - m.length());
        }
      }
      if (cut >= 0) {
        text.setLength(includeStop ? text.length() : cut);
        kept = count;
        return;
      }
    }
  }

  private String release(boolean all) {
    int held = 0;
    for (StopMatcher m : stops) {
      held = Math.max(held, m.matched());
    }
    int upTo = all || stopped() ? text.length() : text.length() - held;
    if (upTo <= sent) {
      return "";
    }
    String out = text.substring(sent, upTo);
    sent = upTo;
    return out;
  }

  private String decode(int from, int to) {
    return from >= to ? "" : decode.apply(Arrays.copyOfRange(tokens, from, to));
  }

  /**
   * Knuth-Morris-Pratt over the text as it grows: how much of the stop string the text ends
   * with, in constant amortised time a character, so no stop string costs a rescan.
   */
  private static final class StopMatcher {
    private final String stop;
    /** fail[i]: length of the longest proper prefix of stop[0..i] that is also its suffix. */
    private final int[] fail;
    private int matched;

    StopMatcher(String stop) {
      this.stop = stop;
      this.fail = new int[stop.length()];
      for (int i = 1, k = 0; i < stop.length(); i++) {
        while (k > 0 && stop.charAt(i) != stop.charAt(k)) {
          k = fail[k - 1];
        }
        if (stop.charAt(i) == stop.charAt(k)) {
          k++;
        }
        fail[i] = k;
      }
    }

    /** The text grew by {@code c}; answers whether it now ends with the whole stop string. */
    boolean advance(char c) {
      if (matched == stop.length()) {
        matched = fail[matched - 1];
      }
      while (matched > 0 && stop.charAt(matched) != c) {
        matched = fail[matched - 1];
      }
      if (stop.charAt(matched) == c) {
        matched++;
      }
      return matched == stop.length();
    }

    /** How many of the stop string's first characters the text ends with. */
    int matched() {
      return matched;
    }

    int length() {
      return stop.length();
    }
  }
}
