package org.treeroll.advantage;

import java.util.List;

/**
 * The advantages of every answer of a batch.
 *
 * @param estimator spec of the estimator that computed them ({@link AdvantageEstimator#name})
 * @param paths one per leaf, trees in input order, leaves in tree order
 * @param unscored leaves left out because they were never scored (reward NaN, no error)
 * @param failed leaves left out because scoring them failed (a reward error)
 */
public record BatchAdvantages(String estimator, List<PathAdvantage> paths, int unscored, int failed) {
  public BatchAdvantages {
    paths = List.copyOf(paths);
  }

  /** Leaves that take part in no baseline and train nothing. */
  public int skipped() {
    return unscored + failed;
  }

  /** Leaves with a reward. */
  public int included() {
    return paths.size() - skipped();
  }
}
