package org.treeroll.reward;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Canonical form of a math answer, so that equal answers written differently compare equal and
 * fall into one meaning class.
 *
 * <p>Presentation is removed: {@code \boxed{}}, {@code $...$}, {@code \left}/{@code \right},
 * LaTeX spacing, whitespace, a leading {@code +}, the Unicode minus, degrees ({@code ^\circ},
 * {@code °}), percent signs ({@code 50\%} is 50, as references write it), dollar signs, a
 * trailing full stop, a leading {@code x =}. {@code \text{...}} is unwrapped, and dropped when it
 * follows a number ({@code 5\text{ cm}} is 5); plain trailing words are kept ({@code 5 apples}
 * stays distinct from 5), since guessing which words are units would make wrong answers equal.
 *
 * <p>Numbers (decimals, {@code a/b}, {@code \frac}, {@code \dfrac}, {@code \frac12}, thousands
 * separators as in {@code 1,000}) become exact reduced fractions, so 2/4, 0.5 and
 * {@code \frac{1}{2}} are equal and 2.50 equals 2.5. A comma that is not a thousands separator
 * makes a tuple ({@code 1,2}), whose elements are normalised one by one. Anything else compares
 * as its normalised string.
 */
public final class MathNormalizer {
  private static final Pattern THOUSANDS = Pattern.compile("[+-]?\\d{1,3}(?:,\\d{3})+(?:\\.\\d*)?");
  private static final Pattern FRAC_SHORT = Pattern.compile("\\\\frac(\\d)(\\d)");
  private static final Pattern DEGREES = Pattern.compile("\\^\\s*\\{?\\s*\\\\circ\\s*\\}?|\\\\degree\\b|°");
  private static final Pattern ASSIGNMENT = Pattern.compile("^[a-zA-Z]=(?=[^=]+$)");
  private static final List<String> SPACING = List.of("\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\ ", "~",
      "\\displaystyle", "\\left", "\\right");
  private static final List<String> TEXT_COMMANDS = List.of("\\text", "\\textbf", "\\textrm", "\\mathrm", "\\mbox");

  private MathNormalizer() {}

  /** Whether two answers mean the same: exact rational comparison when both are numbers. */
  public static boolean equivalent(String a, String b) {
    if (a == null || b == null) {
      return false;
    }
    Optional<Rational> x = Rational.parse(prepare(a));
    Optional<Rational> y = Rational.parse(prepare(b));
    if (x.isPresent() && y.isPresent()) {
      return x.get().equals(y.get());
    }
    return canonical(a).equals(canonical(b));
  }

  /**
   * The canonical spelling of an answer: a number as its reduced fraction ({@code 1/2},
   * {@code -3}), a tuple element by element, anything else as its normalised string. Equal
   * canonical forms mean equivalent answers, so this is the key of a meaning class.
   */
  public static String canonical(String answer) {
    if (answer == null) {
      return "";
    }
    String s = prepare(answer);
    Optional<Rational> number = Rational.parse(s);
    if (number.isPresent()) {
      return number.get().toString();
    }
    return tuple(s);
  }

  /** Everything but the final numeric reading. */
  static String prepare(String answer) {
    String s = answer.strip();
    String boxed = Latex.lastBoxed(s);
    if (boxed != null) {
      s = boxed;
    }
    s = s.replace('\u2212', '-').replace('\u00A0', ' ').replace("{,}", ",");
    s = s.replace("\\$", "").replace("$", "");
    s = DEGREES.matcher(s).replaceAll("");
    s = s.replace("\\%", "").replace("%", "");
    for (String sp : SPACING) {
      s = removeControl(s, sp);
    }
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac");
    s = dropTrailingUnit(s);
    for (String t : TEXT_COMMANDS) {
      s = Latex.unwrap(s, t);
    }
    s = s.replaceAll("\\s+", "");
    s = FRAC_SHORT.matcher(s).replaceAll("\\\\frac{$1}{$2}");
    if (s.endsWith(".")) {
      s = s.substring(0, s.length() - 1);
    }
    s = ASSIGNMENT.matcher(s).replaceFirst("");
    s = unbrace(s);
    if (s.startsWith("+")) {
      s = s.substring(1);
    }
    if (THOUSANDS.matcher(s).matches()) {
      s = s.replace(",", "");
    }
    return s;
  }

  /** Replaces a control sequence by a space; a control word only where it is not part of a longer one. */
  private static String removeControl(String s, String control) {
    if (!Character.isLetter(control.charAt(control.length() - 1))) {
      return s.replace(control, " ");
    }
    int at;
    while ((at = Latex.commandAt(s, control, 0)) >= 0) {
      s = s.substring(0, at) + " " + s.substring(at + control.length());
    }
    return s;
  }

  /** {@code 5\text{ cm}} is 5: LaTeX answers put their units in a text box after the number. */
  private static String dropTrailingUnit(String s) {
    String t = s.stripTrailing();
    if (!t.endsWith("}")) {
      return s;
    }
    for (String command : TEXT_COMMANDS) {
      int at = t.lastIndexOf(command);
      if (at < 0 || Latex.commandAt(t, command, at) != at) {
        continue;
      }
      int open = t.indexOf('{', at);
      if (open < 0 || !t.substring(at + command.length(), open).isBlank()
          || Latex.closingBrace(t, open) != t.length() - 1) {
        continue;
      }
      String before = t.substring(0, at).stripTrailing();
      if (!before.isEmpty() && Character.isDigit(before.charAt(before.length() - 1))) {
        return before;
      }
    }
    return s;
  }

  /** {@code {5}} is 5: strips braces that wrap the whole answer. */
  private static String unbrace(String s) {
    while (s.length() >= 2 && s.charAt(0) == '{' && Latex.closingBrace(s, 0) == s.length() - 1) {
      s = s.substring(1, s.length() - 1);
    }
    return s;
  }

  /** Normalises the elements of a comma-separated tuple, keeping its brackets. */
  private static String tuple(String s) {
    String open = "";
    String close = "";
    String inner = s;
    if (s.length() >= 2 && "([".indexOf(s.charAt(0)) >= 0 && ")]".indexOf(s.charAt(s.length() - 1)) >= 0) {
      open = s.substring(0, 1);
      close = s.substring(s.length() - 1);
      inner = s.substring(1, s.length() - 1);
    }
    List<String> parts = topLevelSplit(inner);
    if (parts.size() < 2) {
      return s;
    }
    List<String> out = new ArrayList<>();
    for (String p : parts) {
      String e = unbrace(p.startsWith("+") ? p.substring(1) : p);
      out.add(Rational.parse(e).map(Rational::toString).orElse(e));
    }
    return open + String.join(",", out) + close;
  }

  /** Splits on commas outside brackets and braces. */
  private static List<String> topLevelSplit(String s) {
    List<String> parts = new ArrayList<>();
    int depth = 0;
    int from = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\') {
        i++;
      } else if ("([{".indexOf(c) >= 0) {
        depth++;
      } else if (")]}".indexOf(c) >= 0) {
        depth--;
      } else if (c == ',' && depth == 0) {
        parts.add(s.substring(from, i));
        from = i + 1;
      }
    }
    parts.add(s.substring(from));
    return parts;
  }
}
