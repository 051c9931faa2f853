package org.treeroll.branching;

import java.util.Arrays;

/** Budget spending shared by the policies that pick which nodes fork. */
final class Allocation {
  private Allocation() {}

  /**
   * One child per live node, then {@code factor - 1} extra children to each node of
   * {@code forkers} in order while the budget lasts.
   */
  static int[] extrasInOrder(int live, int[] forkers, int budget, int factor) {
    int[] out = new int[live];
    Arrays.fill(out, 1);
    int spare = budget - live;
    for (int i = 0; i < forkers.length && spare > 0; i++) {
      int extra = Math.min(factor - 1, spare);
      out[forkers[i]] += extra;
      spare -= extra;
    }
    return out;
  }

  /**
   * The budget split in proportion to {@code weights} (each node keeps at least one child), by
   * largest remainder so the parts sum exactly to {@code budget}.
   */
  static int[] proportional(double[] weights, int budget) {
    int n = weights.length;
    double total = Arrays.stream(weights).sum();
    int spare = budget - n;
    int[] out = new int[n];
    double[] rest = new double[n];
    int given = 0;
    for (int i = 0; i < n; i++) {
      double share = spare * weights[i] / total;
      out[i] = 1 + (int) Math.floor(share);
      rest[i] = share - Math.floor(share);
      given += out[i] - 1;
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Double.compare(rest[b], rest[a]));
    for (int i = 0; given < spare; i++, given++) {
      out[order[i]]++;
    }
    return out;
  }
}
