package org.treeroll.advantage;

import java.util.Locale;
import java.util.Set;
import org.treeroll.tree.ComponentRegistry;
import org.treeroll.tree.ComponentSpec;

/**
 * The advantage estimators by name, e.g. {@code grpo:std=false}, {@code treepo:whiten=false},
 * {@code spo}, {@code rose:lambda=0.5}. An unknown name or parameter is refused with the valid
 * ones listed.
 */
public final class AdvantageEstimators {
  private static final String KIND = "advantage estimator";
  private static final ComponentRegistry<AdvantageEstimator> REGISTRY = new ComponentRegistry<AdvantageEstimator>(KIND)
      .register("grpo", Set.of("std", "eps"),
          s -> new GrpoEstimator(s.flag("std", true), s.number("eps", 1e-6)))
      .register("treepo", Set.of("whiten", "weighting", "groups"),
          s -> new TreePoEstimator(s.flag("whiten", true),
              choice(s, "weighting", TreePoEstimator.Weighting.class, TreePoEstimator.Weighting.MEAN),
              choice(s, "groups", TreePoEstimator.Groups.class, TreePoEstimator.Groups.DEPTH)))
      .register("spo", Set.of(), s -> new SpoEstimator())
      .register("rose", Set.of("lambda", "correct"),
          s -> new RoseEstimator(s.number("lambda", 0), s.number("correct", 1.0)));

  private AdvantageEstimators() {}

  /** Builds the estimator a spec names, e.g. {@code treepo:weighting=size}. */
  public static AdvantageEstimator create(String spec) {
    return REGISTRY.create(spec);
  }

  public static Set<String> names() {
    return REGISTRY.names();
  }

  private static <E extends Enum<E>> E choice(ComponentSpec s, String key, Class<E> type, E fallback) {
    String v = s.string(key, null);
    if (v == null) {
      return fallback;
    }
    for (E e : type.getEnumConstants()) {
      if (e.name().equalsIgnoreCase(v)) {
        return e;
      }
    }
    StringBuilder valid = new StringBuilder();
    for (E e : type.getEnumConstants()) {
      valid.append(valid.isEmpty() ? "" : " or ").append(e.name().toLowerCase(Locale.ROOT));
    }
    throw s.bad(key, v, valid.toString());
  }
}
