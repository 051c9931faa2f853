package org.treeroll.branching;

import it.unimi.dsi.fastutil.ints.IntList;
import org.treeroll.tree.TreeRollException;

/**
 * When an answer is stuck in a loop: its last tokens are one pattern of at most
 * {@code maxPeriod} tokens repeated {@code minRepeats} times in a row, covering at least
 * {@code minSpan} tokens (so "1000000" or "====" in an answer do not count). TreePO's rule is
 * the same idea in characters (a 32-character substring 8 times in a segment).
 */
public record RepetitionRule(int maxPeriod, int minRepeats, int minSpan) {
  public static final RepetitionRule DEFAULT = new RepetitionRule(32, 8, 32);
  public static final RepetitionRule OFF = new RepetitionRule(0, 0, 0);

  public RepetitionRule {
    if (maxPeriod < 0 || minRepeats < 0 || minSpan < 0 || (maxPeriod > 0 && minRepeats < 2)) {
      throw new TreeRollException("repetition rule needs max_period >= 1 and min_repeats >= 2 (or all 0 to turn it off), got "
          + maxPeriod + ", " + minRepeats + ", " + minSpan);
    }
  }

  /** Whether {@code tokens} end in a loop. */
  public boolean endsInLoop(IntList tokens) {
    int n = tokens.size();
    for (int p = 1; p <= maxPeriod; p++) {
      int span = Math.max(p * minRepeats, minSpan);
      if (span > n) {
        break;
      }
      boolean loop = true;
      for (int i = n - span; i < n - p && loop; i++) {
        loop = tokens.getInt(i) == tokens.getInt(i + p);
      }
      if (loop) {
        return true;
      }
    }
    return false;
  }
}
