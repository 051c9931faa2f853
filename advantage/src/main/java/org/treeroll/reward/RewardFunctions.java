package org.treeroll.reward;

import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.treeroll.tree.ComponentRegistry;
import org.treeroll.tree.ComponentSpec;

/**
 * Reward functions by name: {@code exact}, {@code math}, {@code regex:pattern=...[,compare=math]},
 * {@code http:url=...,timeout_ms=2000,retries=2,backoff_ms=100} (also {@code connections},
 * {@code cache_size}, {@code cache_expiry_ms}). An unknown name or parameter is refused with the
 * valid ones listed.
 *
 * <p>A regex needs commas ({@code \d{1,3}}) but the spec grammar splits parameters on them, so
 * {@code pattern} is read verbatim to the end of the spec and must be the last parameter:
 * {@code regex:compare=math,pattern=(\d{1,3})}.
 */
public final class RewardFunctions {
  public static final String KIND = "reward function";
  // Stands in for the commas of a pattern while the spec is split on commas; restored after.
  private static final char COMMA = '\uE000';
  private static final Pattern PATTERN_PARAM = Pattern.compile("(?i)[:,]\\s*pattern\\s*=");

  private RewardFunctions() {}

  /** The registry; {@code http} verifiers made by it own their Vert.x instance. */
  public static ComponentRegistry<RewardFunction> registry() {
    return registry(null);
  }

  /** The registry; {@code http} verifiers made by it run on {@code vertx} (when not null). */
  public static ComponentRegistry<RewardFunction> registry(Vertx vertx) {
    return new ComponentRegistry<RewardFunction>(KIND)
        .register("exact", Set.of(), s -> new ExactMatchReward())
        .register("math", Set.of(), s -> new MathReward())
        .register("regex", Set.of("pattern", "compare"), s -> new RegexReward(
            s.string("pattern", "").replace(COMMA, ','), RegexReward.Comparison.parse(s.string("compare", "exact"))))
        .register("http", Set.of("url", "timeout_ms", "retries", "backoff_ms", "connections", "cache_size",
            "cache_expiry_ms"), s -> {
              HttpVerifierConfig c = httpConfig(s);
              return vertx == null ? new HttpVerifier(c) : new HttpVerifier(c, vertx);
            });
  }

  /** Builds the reward function {@code spec} names, e.g. {@code regex:pattern=#### (\d+)}. */
  public static RewardFunction create(String spec) {
    return create(spec, null);
  }

  public static RewardFunction create(String spec, Vertx vertx) {
    return registry(vertx).create(protectPattern(spec));
  }

  public static Set<String> names() {
    return registry().names();
  }

  private static String protectPattern(String spec) {
    if (spec == null) {
      return null;
    }
    String s = spec.strip();
    int colon = s.indexOf(':');
    if (colon < 0 || !s.substring(0, colon).strip().equalsIgnoreCase("regex")) {
      return spec;
    }
    Matcher m = PATTERN_PARAM.matcher(s);
    if (!m.find(colon)) {
      return spec;
    }
    return s.substring(0, m.end()) + s.substring(m.end()).replace(',', COMMA);
  }

  private static HttpVerifierConfig httpConfig(ComponentSpec s) {
    HttpVerifierConfig d = HttpVerifierConfig.of(s.string("url", null));
    return new HttpVerifierConfig(d.url(),
        Duration.ofMillis(nonNegative(s, "timeout_ms", d.timeout().toMillis())),
        s.integer("retries", d.retries()),
        Duration.ofMillis(nonNegative(s, "backoff_ms", d.backoff().toMillis())),
        s.integer("connections", d.connections()),
        nonNegative(s, "cache_size", d.cacheSize()),
        Duration.ofMillis(nonNegative(s, "cache_expiry_ms", d.cacheExpiry().toMillis())));
  }

  /** A whole number of at least 0; the config checks the finer limits. */
  private static long nonNegative(ComponentSpec s, String key, long fallback) {
    String v = s.string(key, null);
    if (v == null) {
      return fallback;
    }
    try {
      long n = Long.parseLong(v);
      if (n >= 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below with the key and value
    }
    throw s.bad(key, v, "a whole number of 0 or more");
  }
}
