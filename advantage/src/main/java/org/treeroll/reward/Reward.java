package org.treeroll.reward;

import org.treeroll.tree.TreeRollException;

/**
 * The outcome of scoring one answer: a finite value, or an error saying why no value could be
 * given. A failure is never reported as a zero, since a zero would teach the policy that a correct
 * answer the verifier could not reach was wrong.
 *
 * @param value the reward; NaN exactly when {@code error} is set
 * @param error why scoring failed, or null
 */
public record Reward(double value, String error) {

  public Reward {
    if (error == null && !Double.isFinite(value)) {
      throw new TreeRollException("reward: value must be finite, got " + value);
    }
    if (error != null && !Double.isNaN(value)) {
      throw new TreeRollException("reward: a failed reward carries no value, got " + value + " with error '" + error + "'");
    }
    if (error != null && error.isBlank()) {
      throw new TreeRollException("reward: error is blank; say why scoring failed");
    }
  }

  public static Reward of(double value) {
    return new Reward(value, null);
  }

  /** 1 when correct, 0 otherwise. */
  public static Reward of(boolean correct) {
    return new Reward(correct ? 1 : 0, null);
  }

  public static Reward failed(String error) {
    return new Reward(Double.NaN, error == null ? "unknown error" : error);
  }

  public boolean ok() {
    return error == null;
  }
}
