package org.treeroll.reward;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.treeroll.tree.TreeRollException;

/**
 * Finds the final answer in a response: the content of a {@code \boxed{...}} (nested braces
 * allowed), or the value of a final-answer line: {@code Answer: 42}, {@code The answer is 42},
 * {@code #### 42} (GSM8K). When several are present the last one written wins, since models
 * correct themselves.
 *
 * <p>The engine calls this on answers that are still growing, to stop those whose outcome is
 * settled, so an answer counts only once it cannot change any more: a box once its closing brace
 * is written, a line once its newline is (a trailing {@code Answer: 4} may yet become
 * {@code Answer: 42}). A response the caller reports finished has nothing more to come, so its
 * last line counts without a newline. While a box or an answer line is still open after the last
 * complete answer, there is no final answer yet.
 */
public final class AnswerExtractor {
  private static final Pattern THE_ANSWER_IS = Pattern.compile(
      "\\bthe\\s+(?:final\\s+|correct\\s+)?answer\\s+is\\b[\\s:*_]*(.*)$", Pattern.CASE_INSENSITIVE);
  private static final Pattern LABELLED = Pattern.compile(
      "^[\\s*_#>-]*(?:final\\s+)?answer[\\s*_]*[:\\uFF1A][\\s*_]*(.*)$", Pattern.CASE_INSENSITIVE);
  // GSM8K ends with "#### 42"; the value must look like a number so that a Markdown heading
  // ("#### Step 2") is not mistaken for an answer and does not stop the rollout.
  private static final Pattern GSM8K = Pattern.compile("^\\s*####\\s*([-+\\u2212$.\\d\\\\(].*)?$");
  private static final Pattern SENTENCE_END = Pattern.compile("\\.(?:\\s|$)");

  private AnswerExtractor() {}

  /** A candidate answer and where it starts, so the last one written wins. */
  private record Candidate(int start, String answer) {}

  /** The final answer of a response that may still be growing. */
  public static Optional<String> finalAnswer(String response) {
    return finalAnswer(response, false);
  }

  /**
   * @param finished whether the response is complete (stopped by EOS or length), so that a last
   *     line without a newline counts, and an unclosed box is just malformed
   */
  public static Optional<String> finalAnswer(String response, boolean finished) {
    if (response == null) {
      throw new TreeRollException("answer extractor: response is null");
    }
    Candidate best = null;
    int openAt = -1;
    for (Latex.Box box : Latex.boxes(response)) {
      if (box.closed()) {
        String a = box.content().strip();
        if (!a.isEmpty()) {
          best = later(best, new Candidate(box.start(), a));
        }
      } else if (!finished) {
        openAt = Math.max(openAt, box.start());
      }
    }
    int lineStart = 0;
    while (true) {
      int nl = response.indexOf('\n', lineStart);
      String line = response.substring(lineStart, nl < 0 ? response.length() : nl);
      // A line holding a box is answered by the box, which may span lines.
      if (!line.contains("\\boxed") && !line.contains("\\fbox")) {
        String value = lineValue(line);
        if (value != null && (nl >= 0 || finished)) {
          String a = clean(value);
          if (!a.isEmpty()) {
            best = later(best, new Candidate(lineStart, a));
          }
        } else if (value != null) {
          openAt = Math.max(openAt, lineStart);
        }
      }
      if (nl < 0) {
        break;
      }
      lineStart = nl + 1;
    }
    if (best == null || openAt > best.start()) {
      return Optional.empty();
    }
    return Optional.of(best.answer());
  }

  /**
   * The key of the answer's meaning class: its final answer in {@link MathNormalizer#canonical}
   * form, so answers that say the same thing differently share a class. Empty while there is no
   * complete final answer.
   */
  public static Optional<String> meaningClass(String response, boolean finished) {
    return finalAnswer(response, finished).map(MathNormalizer::canonical);
  }

  private static Candidate later(Candidate a, Candidate b) {
    return a == null || b.start() >= a.start() ? b : a;
  }

  /** The raw value of an answer line, "" when the label has no value yet, null when not one. */
  private static String lineValue(String line) {
    line = line.replace("\r", "");
    Matcher m = GSM8K.matcher(line);
    if (m.matches()) {
      return m.group(1) == null ? "" : m.group(1);
    }
    m = THE_ANSWER_IS.matcher(line);
    if (m.find()) {
      return m.group(1);
    }
    m = LABELLED.matcher(line);
    return m.matches() ? m.group(1) : null;
  }

  /** The answer inside a line's value: math delimiters and Markdown emphasis off, prose cut. */
  private static String clean(String value) {
    String v = value.strip();
    String math = delimited(v, "$$", "$$");
    math = math != null ? math : delimited(v, "$", "$");
    math = math != null ? math : delimited(v, "\\(", "\\)");
    math = math != null ? math : delimited(v, "\\[", "\\]");
    if (math != null) {
      return math.strip();
    }
    if (v.startsWith("$")) {
      // An unclosed "$" before a number is a currency sign: "The answer is $18."
      v = v.substring(1);
    }
    Matcher end = SENTENCE_END.matcher(v);
    if (end.find()) {
      v = v.substring(0, end.start());
    }
    v = v.strip();
    // Markdown emphasis around the value ("**42**", or "12**" once the label took the opening
    // stars); stars and backticks are not part of answers. Underscores are, so only pairs go.
    v = v.replaceAll("^[*`]+|[*`]+$", "").strip();
    while (v.length() >= 2 && v.charAt(0) == '_' && v.charAt(v.length() - 1) == '_') {
      v = v.substring(1, v.length() - 1).strip();
    }
    return v;
  }

  /** What lies between {@code open} at the start of {@code v} and the next {@code close}, or null. */
  private static String delimited(String v, String open, String close) {
    if (!v.startsWith(open)) {
      return null;
    }
    int end = v.indexOf(close, open.length());
    return end < 0 ? null : v.substring(open.length(), end);
  }
}
