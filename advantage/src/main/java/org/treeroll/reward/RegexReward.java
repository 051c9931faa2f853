package org.treeroll.reward;

import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.treeroll.tree.TreeRollException;

/**
 * {@code regex}: scores the response against a pattern, in one of two ways chosen by the pattern
 * itself.
 *
 * <ul>
 *   <li>Without a capturing group the pattern is a format check: 1 when it is found anywhere in
 *       the response (use {@code ^...$} to demand the whole), else 0; the reference is unused.
 *   <li>With one, the pattern locates the answer: the group named {@code answer}, else group 1,
 *       of the <em>last</em> match (models restate and correct themselves) is compared with the
 *       reference, exactly after trimming or, with {@code compare=math}, by
 *       {@link MathNormalizer}. No match scores 0; a missing reference is an error.
 * </ul>
 */
public final class RegexReward implements RewardFunction {
  /** How a captured answer is compared with the reference. */
  public enum Comparison {
    EXACT,
    MATH;

    static Comparison parse(String text) {
      try {
        return valueOf(text.strip().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new TreeRollException("reward function 'regex': parameter 'compare' must be exact or math, got '" + text + "'");
      }
    }
  }

  private final Pattern pattern;
  private final Comparison comparison;

  public RegexReward(String pattern, Comparison comparison) {
    if (pattern == null || pattern.isEmpty()) {
      throw new TreeRollException("reward function 'regex': parameter 'pattern' is required, e.g. regex:pattern=Answer: (\\d+)");
    }
    try {
      // DOTALL: a response spans lines, and "." should too when the pattern reaches across them.
      this.pattern = Pattern.compile(pattern, Pattern.DOTALL);
    } catch (PatternSyntaxException e) {
      throw new TreeRollException("reward function 'regex': parameter 'pattern' is not a valid regular expression: "
          + e.getDescription() + " near index " + e.getIndex() + " of '" + pattern + "'");
    }
    this.comparison = comparison;
  }

  @Override
  public String name() {
    return "regex";
  }

  public Pattern pattern() {
    return pattern;
  }

  @Override
  public CompletableFuture<Reward> score(RewardRequest request) {
    return CompletableFuture.completedFuture(scoreNow(request));
  }

  private Reward scoreNow(RewardRequest request) {
    Matcher m = pattern.matcher(request.response());
    if (m.groupCount() == 0) {
      return Reward.of(m.find());
    }
    if (request.reference() == null) {
      return Reward.failed(name() + ": pattern '" + pattern + "' captures an answer but the request has no reference");
    }
    String captured = null;
    boolean named = pattern.namedGroups().containsKey("answer");
    while (m.find()) {
      String g = named ? m.group("answer") : m.group(1);
      captured = g != null ? g : captured;
    }
    if (captured == null) {
      return Reward.of(false);
    }
    return Reward.of(switch (comparison) {
      case EXACT -> captured.strip().equals(request.reference().strip());
      case MATH -> MathNormalizer.equivalent(captured, request.reference());
    });
  }
}
