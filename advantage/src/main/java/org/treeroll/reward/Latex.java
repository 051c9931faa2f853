package org.treeroll.reward;

import java.util.ArrayList;
import java.util.List;

/** Brace matching for the bits of LaTeX that final answers are written in. */
final class Latex {
  private Latex() {}

  /**
   * A {@code \boxed{...}} (or {@code \fbox{...}}) starting at {@code start}.
   *
   * @param content what the box holds, or null while its closing brace has not been written
   * @param end index just past the closing brace, or the text's length when unclosed
   */
  record Box(int start, String content, int end) {
    boolean closed() {
      return content != null;
    }
  }

  /**
   * Index of the brace closing the one at {@code open}, or -1 when the group is not closed.
   * Escaped braces ({@code \{ \}}) are literal characters in LaTeX, so they do not nest.
   */
  static int closingBrace(String s, int open) {
    int depth = 0;
    for (int i = open; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\') {
        i++;
      } else if (c == '{') {
        depth++;
      } else if (c == '}' && --depth == 0) {
        return i;
      }
    }
    return -1;
  }

  /** Every box in {@code s}, closed or not, in order of their start. */
  static List<Box> boxes(String s) {
    List<Box> out = new ArrayList<>();
    for (String command : List.of("\\boxed", "\\fbox")) {
      int from = 0;
      int at;
      while ((at = commandAt(s, command, from)) >= 0) {
        int open = braceAfter(s, at + command.length());
        if (open < 0) {
          // "\boxed" at the very end is a box about to open; "\boxed 5" is not one we read.
          if (s.substring(at + command.length()).isBlank()) {
            out.add(new Box(at, null, s.length()));
          }
        } else {
          int close = closingBrace(s, open);
          out.add(close < 0 ? new Box(at, null, s.length()) : new Box(at, s.substring(open + 1, close), close + 1));
        }
        from = at + command.length();
      }
    }
    out.sort((a, b) -> Integer.compare(a.start(), b.start()));
    return out;
  }

  /** The content of the last closed box, or null when there is none. */
  static String lastBoxed(String s) {
    String last = null;
    for (Box b : boxes(s)) {
      if (b.closed()) {
        last = b.content();
      }
    }
    return last;
  }

  /** Replaces every {@code \command{X}} by {@code X}, nested ones included. */
  static String unwrap(String s, String command) {
    int at;
    int from = 0;
    while ((at = commandAt(s, command, from)) >= 0) {
      int open = braceAfter(s, at + command.length());
      int close = open < 0 ? -1 : closingBrace(s, open);
      if (close < 0) {
        from = at + command.length();
        continue;
      }
      s = s.substring(0, at) + s.substring(open + 1, close) + s.substring(close + 1);
      from = at;
    }
    return s;
  }

  /** Where {@code command} next occurs as a whole control word (not a prefix of a longer one). */
  static int commandAt(String s, String command, int from) {
    int at = s.indexOf(command, from);
    while (at >= 0) {
      int after = at + command.length();
      if (after >= s.length() || !Character.isLetter(s.charAt(after))) {
        return at;
      }
      at = s.indexOf(command, at + 1);
    }
    return -1;
  }

  /** Index of the '{' that follows {@code from} after optional spaces, or -1. */
  private static int braceAfter(String s, int from) {
    int i = from;
    while (i < s.length() && s.charAt(i) == ' ') {
      i++;
    }
    return i < s.length() && s.charAt(i) == '{' ? i : -1;
  }
}
