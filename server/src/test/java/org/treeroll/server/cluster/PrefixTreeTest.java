package org.treeroll.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PrefixTreeTest {
  @Test
  void matchesTheLongestPrefixAcrossSplitEdges() {
    PrefixTree t = new PrefixTree(1000);
    t.insert(new int[] {1, 2, 3, 4, 5});
    t.insert(new int[] {1, 2, 9});
    assertThat(t.match(new int[] {1, 2, 3, 4, 5, 6})).isEqualTo(5);
    assertThat(t.match(new int[] {1, 2, 9, 9})).isEqualTo(3);
    assertThat(t.match(new int[] {1, 2, 7})).isEqualTo(2);
    assertThat(t.match(new int[] {7})).isZero();
    assertThat(t.match(new int[0])).isZero();
    assertThat(t.size()).as("symbols: 1 2 | 3 4 5 | 9").isEqualTo(6);
  }

  @Test
  void pastItsCapacityTheLeastRecentlyUsedPrefixesGoFirst() {
    PrefixTree t = new PrefixTree(10);
    t.insert(new int[] {1, 1, 1, 1});
    t.insert(new int[] {2, 2, 2, 2});
    t.match(new int[] {1, 1, 1, 1}); // 1s are now more recent than 2s
    t.insert(new int[] {3, 3, 3, 3});
    assertThat(t.size()).isLessThanOrEqualTo(10);
    assertThat(t.match(new int[] {2, 2, 2, 2})).isZero();
    assertThat(t.match(new int[] {1, 1, 1, 1})).isEqualTo(4);
    assertThat(t.match(new int[] {3, 3, 3, 3})).isEqualTo(4);
  }
}
