package org.treeroll.engine.rl;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.tree.TreeRollException;

/**
 * The configurations the RL comparison runs: how answers are sampled and which estimator turns
 * their rewards into advantages. Trees use segments of 8 tokens, depth up to 16 (the 128
 * tokens the longest worked solution needs, with room), two first branches, forks of 2.
 */
public enum RlPreset {
  /** The baseline: N independent answers, GRPO's group-normalised rewards. */
  GRPO_INDEPENDENT("grpo-independent", "independent", "grpo"),
  TREEPO_TREES("treepo-trees", "treepo", "treepo"),
  SPO_TREES("spo-trees", "treepo", "spo"),
  ROSE_TREES("rose-trees", "rose", "rose");

  public static final int SEGMENT = 8;
  public static final int DEPTH = 16;
  public static final int MAX_TOKENS = SEGMENT * DEPTH;

  private final String id;
  private final String policy;
  private final String estimator;

  RlPreset(String id, String policy, String estimator) {
    this.id = id;
    this.policy = policy;
    this.estimator = estimator;
  }

  public String id() {
    return id;
  }

  /** The branching policy spec, or {@code independent}. */
  public String policy() {
    return policy;
  }

  public String estimator() {
    return estimator;
  }

  /** The sampling shape for {@code answers} answers per problem under {@code policy}. */
  public static TreeRolloutConfig rollout(String policy, int answers) {
    if (answers <= 0) {
      throw new TreeRollException("--answers must be > 0, got " + answers);
    }
    if (policy.equals("independent")) {
      return TreeRolloutConfig.independent(answers, MAX_TOKENS);
    }
    return new TreeRolloutConfig(SEGMENT, DEPTH, Math.min(2, answers), answers, 2, MAX_TOKENS).withPolicy(policy);
  }

  public static RlPreset byId(String id) {
    for (RlPreset p : values()) {
      if (p.id.equals(id.toLowerCase(Locale.ROOT))) {
        return p;
      }
    }
    throw new TreeRollException("--config: unknown preset '" + id + "'; use one of "
        + Arrays.stream(values()).map(RlPreset::id).collect(Collectors.joining(", ")));
  }
}
