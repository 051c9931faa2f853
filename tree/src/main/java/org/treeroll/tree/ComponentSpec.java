package org.treeroll.tree;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A pluggable component (branching policy, advantage estimator, reward function) chosen by name
 * with parameters, written {@code name} or {@code name:key=value,key=value}, e.g.
 * {@code entropy:reduce=max,threshold=2.5}. Typed getters name the component and the key when a
 * value does not parse.
 *
 * @param kind what the component is, for messages ("branching policy")
 */
public record ComponentSpec(String kind, String name, Map<String, String> params) {

  public ComponentSpec {
    params = Map.copyOf(params);
  }

  public static ComponentSpec parse(String kind, String text) {
    if (text == null || text.isBlank()) {
      throw new TreeRollException(kind + " is empty: give a name, optionally name:key=value,...");
    }
    String t = text.strip();
    int colon = t.indexOf(':');
    String name = (colon < 0 ? t : t.substring(0, colon)).strip().toLowerCase(Locale.ROOT);
    Map<String, String> params = new LinkedHashMap<>();
    if (colon >= 0 && !t.substring(colon + 1).isBlank()) {
      for (String kv : t.substring(colon + 1).split(",")) {
        int eq = kv.indexOf('=');
        if (eq <= 0) {
          throw new TreeRollException(kind + " '" + name + "': parameter '" + kv.strip()
              + "' must be written key=value");
        }
        String key = kv.substring(0, eq).strip().toLowerCase(Locale.ROOT);
        if (params.put(key, kv.substring(eq + 1).strip()) != null) {
          throw new TreeRollException(kind + " '" + name + "': parameter '" + key + "' is given twice");
        }
      }
    }
    return new ComponentSpec(kind, name, params);
  }

  /** Refuses any parameter not in {@code known}, listing the valid ones. */
  public ComponentSpec allowOnly(Set<String> known) {
    for (String k : params.keySet()) {
      if (!known.contains(k)) {
        throw new TreeRollException(kind + " '" + name + "' has no parameter '" + k + "'; valid: "
            + (known.isEmpty() ? "none" : String.join(", ", known.stream().sorted().toList())));
      }
    }
    return this;
  }

  public String string(String key, String fallback) {
    return params.getOrDefault(key, fallback);
  }

  public double number(String key, double fallback) {
    String v = params.get(key);
    if (v == null) {
      return fallback;
    }
    try {
      double d = Double.parseDouble(v);
      if (!Double.isFinite(d)) {
        throw new NumberFormatException();
      }
      return d;
    } catch (NumberFormatException e) {
      throw bad(key, v, "a finite number");
    }
  }

  /** A finite number in {@code [min, max]}. */
  public double number(String key, double fallback, double min, double max) {
    double d = number(key, fallback);
    if (params.containsKey(key) && !(d >= min && d <= max)) {
      throw bad(key, params.get(key), range(min, max));
    }
    return d;
  }

  public int integer(String key, int fallback) {
    String v = params.get(key);
    if (v == null) {
      return fallback;
    }
    try {
      return Integer.parseInt(v);
    } catch (NumberFormatException e) {
      throw bad(key, v, "an integer");
    }
  }

  /** An integer in {@code [min, max]}. */
  public int integer(String key, int fallback, int min, int max) {
    int i = integer(key, fallback);
    if (params.containsKey(key) && (i < min || i > max)) {
      throw bad(key, params.get(key), range(min, max));
    }
    return i;
  }

  private static String range(double min, double max) {
    return max >= Integer.MAX_VALUE ? "at least " + plain(min) : "between " + plain(min) + " and " + plain(max);
  }

  private static String plain(double d) {
    return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
  }

  public boolean flag(String key, boolean fallback) {
    String v = params.get(key);
    if (v == null) {
      return fallback;
    }
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "true", "yes", "1" -> true;
      case "false", "no", "0" -> false;
      default -> throw bad(key, v, "true or false");
    };
  }

  /** An error about parameter {@code key}, naming the component. */
  public TreeRollException bad(String key, String value, String expected) {
    return new TreeRollException(kind + " '" + name + "': parameter '" + key + "' must be " + expected
        + ", got '" + value + "'");
  }

  @Override
  public String toString() {
    if (params.isEmpty()) {
      return name;
    }
    StringBuilder b = new StringBuilder(name).append(':');
    params.entrySet().stream().sorted(Map.Entry.comparingByKey())
        .forEach(e -> b.append(e.getKey()).append('=').append(e.getValue()).append(','));
    return b.substring(0, b.length() - 1);
  }
}
