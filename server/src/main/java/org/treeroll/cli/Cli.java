package org.treeroll.cli;

import org.treeroll.tree.TreeRollException;

/** Small checks shared by commands. */
final class Cli {
  private Cli() {}

  /** Refuses an option value that must be > 0. */
  static void positive(String option, long v) {
    if (v <= 0) {
      throw new TreeRollException(option + " must be > 0, got " + v);
    }
  }

  static void checkTokenIds(int[] ids, int vocab, String option) {
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        throw new TreeRollException(option + ": token id " + ids[i] + " at position " + i
            + " is outside the vocabulary [0, " + vocab + ")");
      }
    }
  }
}
