package org.treeroll.engine.sampling;

import it.unimi.dsi.fastutil.ints.IntList;
import java.util.List;
import java.util.function.Function;
import org.treeroll.tree.TreeRollException;

/**
 * Text that ends an answer, matched on the decoded text of each branch's own output, whatever
 * tokens its characters came in. The answer's tokens keep the one that completed the stop
 * string (its log-prob was sampled); its text ends where the stop string begins, or where it ends
 * when {@code include}.
 *
 * @param strings the stop strings, none empty
 * @param include whether the answer's text keeps the stop string
 */
public record StopStrings(List<String> strings, boolean include) {
  public static final StopStrings NONE = new StopStrings(List.of(), false);

  public StopStrings {
    strings = List.copyOf(strings);
    for (String s : strings) {
      if (s.isEmpty()) {
        throw new TreeRollException("stop strings must not be empty");
      }
    }
  }

  public boolean isEmpty() {
    return strings.isEmpty();
  }

  /**
   * Whether the last token of {@code output} completed a stop string. Only the tail that can hold
   * one is decoded: a character is at most 4 tokens (one per UTF-8 byte), so
   * {@code 4 * longest + 1} tokens reach back past its first character.
   *
   * @param decode token ids to text, special tokens skipped
   */
  public boolean completedBy(IntList output, Function<int[], String> decode) {
    if (strings.isEmpty() || output.isEmpty()) {
      return false;
    }
    int longest = strings.stream().mapToInt(String::length).max().orElse(0);
    int n = output.size();
    int from = Math.max(0, n - 4 * longest - 1);
    String now = decode.apply(output.subList(from, n).toIntArray());
    String before = decode.apply(output.subList(from, n - 1).toIntArray());
    // Text the last token added (or changed: a completed multi-byte character replaces U+FFFD).
    int same = 0;
    while (same < before.length() && same < now.length() && before.charAt(same) == now.charAt(same)) {
      same++;
    }
    for (String s : strings) {
      if (now.indexOf(s, Math.max(0, same - s.length() + 1)) >= 0) {
        return true;
      }
    }
    return false;
  }

  /**
   * {@code text} up to its first stop string (the one ending first; of two ending together, the
   * longer): without it, or with it when {@link #include}. Text without one is returned whole.
   */
  public String cut(String text) {
    int end = Integer.MAX_VALUE;
    int start = -1;
    for (String s : strings) {
      int at = text.indexOf(s);
      if (at >= 0 && (at + s.length() < end || (at + s.length() == end && at < start))) {
        end = at + s.length();
        start = at;
      }
    }
    return start < 0 ? text : text.substring(0, include ? end : start);
  }
}
