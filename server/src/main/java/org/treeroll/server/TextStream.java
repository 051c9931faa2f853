package org.treeroll.server;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * The text of an answer as its tokens arrive, with OpenAI's stop strings (the engine stops on
 * token ids only). Tokens are decoded incrementally: a token that ends inside a multi-byte
 * character, or that the tokenizer would still merge with the next, shows nothing until the text
 * settles. After each token the text is searched for the stop strings; at the first one found the
 * text is cut before it and every later token is ignored. Text that could be the start of a stop
 * string is held back until it is not, so a streamed answer never shows a stop string's head.
 * Non-streamed answers go through the same steps, so both read the same.
 */
final class TextStream {
  private final Function<int[], String> decode;
  private final List<String> stops;
  private final int longestStop;
  private int[] tokens = new int[16];
  private int count;
  /** Tokens before {@code prefix} are settled and decoded into {@code text}; {@code read} ends the last settled piece. */
  private int prefix;
  private int read;
  private final StringBuilder text = new StringBuilder();
  private int sent;
  private int kept = -1;

  /** @param decode token ids to text, special tokens skipped */
  TextStream(Function<int[], String> decode, List<String> stops) {
    this.decode = decode;
    this.stops = List.copyOf(stops);
    this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
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

  private void append(String piece) {
    int from = Math.max(0, text.length() - longestStop + 1);
    text.append(piece);
    int cut = -1;
    // The earliest stop string in the new text wins; it must end in this piece, else it had been found.
    for (String s : stops) {
      int at = text.indexOf(s, from);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
      }
    }
    if (cut >= 0) {
      text.setLength(cut);
      kept = count;
    }
  }

  private String release(boolean all) {
    int upTo = all || stopped() ? text.length() : text.length() - heldBack();
    if (upTo <= sent) {
      return "";
    }
    String out = text.substring(sent, upTo);
    sent = upTo;
    return out;
  }

  /** Length of the longest end of the text that is a proper start of some stop string. */
  private int heldBack() {
    int held = 0;
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, text.length()); k > held; k--) {
        if (endsWith(s, k)) {
          held = k;
          break;
        }
      }
    }
    return held;
  }

  /** Whether the text ends with the first {@code k} characters of {@code s}. */
  private boolean endsWith(String s, int k) {
    int at = text.length() - k;
    for (int i = 0; i < k; i++) {
      if (text.charAt(at + i) != s.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  private String decode(int from, int to) {
    return from >= to ? "" : decode.apply(Arrays.copyOfRange(tokens, from, to));
  }
}
