package org.treeroll.branching;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import org.treeroll.tree.ComponentRegistry;
import org.treeroll.tree.ComponentSpec;

/**
 * Branching policies by name, as a rollout config selects them:
 *
 * <ul>
 *   <li>{@code treepo[:divergence=even|low|high,temperature=2]} TreePO's divergence and fallback
 *   <li>{@code fixed[:factor=2,depths=5/6/7]} fork at fixed depths (SPO-tree's fixed shape)
 *   <li>{@code entropy[:reduce=mean|max,threshold=T,factor=2]} fork the most uncertain segments
 *   <li>{@code rose[:epsilon=0.5,score=cosine-entropy|cosine,k=20,per_round=1]} ROSE semantic
 *       branching
 *   <li>{@code semantic-entropy} fork where the final answers below a node disagree most
 *   <li>{@code random[:factor=2]} the control
 * </ul>
 */
public final class BranchingPolicies {
  private static final ComponentRegistry<BranchingPolicy> REGISTRY =
      new ComponentRegistry<BranchingPolicy>("branching policy")
          .register("treepo", Set.of("divergence", "temperature"), s -> {
            double t = s.number("temperature", 2.0);
            if (!(t > 0)) {
              throw s.bad("temperature", String.valueOf(t), "> 0");
            }
            return new TreePoPolicy(TreePoPolicy.divergence(s), t);
          })
          .register("fixed", Set.of("factor", "depths"), s ->
              new FixedSchedulePolicy(factor(s), depths(s)))
          .register("entropy", Set.of("reduce", "threshold", "factor"), s -> {
            String r = s.string("reduce", "mean");
            EntropyPolicy.Reduce reduce = switch (r.toLowerCase(Locale.ROOT)) {
              case "mean" -> EntropyPolicy.Reduce.MEAN;
              case "max" -> EntropyPolicy.Reduce.MAX;
              default -> throw s.bad("reduce", r, "mean or max");
            };
            return new EntropyPolicy(reduce, s.number("threshold", Double.NEGATIVE_INFINITY), factor(s));
          })
          .register("rose", Set.of("epsilon", "score", "k", "per_round"), s -> {
            double eps = s.number("epsilon", 0.5, 0, 1);
            String sc = s.string("score", "cosine-entropy");
            RoseSemanticPolicy.Score score = switch (sc.toLowerCase(Locale.ROOT)) {
              case "cosine" -> RoseSemanticPolicy.Score.COSINE;
              case "cosine-entropy" -> RoseSemanticPolicy.Score.COSINE_ENTROPY;
              default -> throw s.bad("score", sc, "cosine or cosine-entropy");
            };
            int k = s.integer("k", 20, 2, 100);
            int perRound = s.integer("per_round", 1, 1, Integer.MAX_VALUE);
            return new RoseSemanticPolicy(eps, score, k, perRound);
          })
          .register("semantic-entropy", Set.of(), s -> new SemanticEntropyPolicy())
          .register("random", Set.of("factor"), s -> new RandomPolicy(factor(s)));

  private BranchingPolicies() {}

  /** The policy a spec such as {@code entropy:reduce=max} names. */
  public static BranchingPolicy create(String spec) {
    return REGISTRY.create(spec);
  }

  public static Set<String> names() {
    return REGISTRY.names();
  }

  private static int factor(ComponentSpec s) {
    return s.integer("factor", 2, 1, Integer.MAX_VALUE);
  }

  private static int[] depths(ComponentSpec s) {
    String v = s.string("depths", "1");
    try {
      int[] d = Arrays.stream(v.split("/")).map(String::strip).mapToInt(Integer::parseInt).toArray();
      if (Arrays.stream(d).anyMatch(x -> x < 1)) {
        throw new NumberFormatException();
      }
      return d;
    } catch (NumberFormatException e) {
      throw s.bad("depths", v, "depths >= 1 separated by '/', e.g. 5/6/7");
    }
  }
}
