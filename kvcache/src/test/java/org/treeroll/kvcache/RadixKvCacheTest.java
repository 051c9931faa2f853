package org.treeroll.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

class RadixKvCacheTest {
  private static final int PAGE = 4;
  private final List<int[]> copies = new ArrayList<>();
  private final PageCopier copier = (from, to, n) -> copies.add(new int[] {from, to, n});

  /** What the engine does: reuse the cached prefix, compute the rest, cache the whole sequence. */
  private RadixKvCache.Node cacheSequence(RadixKvCache cache, int[] tokens) {
    RadixKvCache.Match m = cache.match(tokens);
    PageTable table = PageTable.prefix(cache.pool(), k -> cache.pageAt(m.node(), k, m.length()), m.length(), false, copier);
    table.reserve(tokens.length - m.length());
    table.advance(tokens.length - m.length());
    int[] slots = new int[tokens.length];
    for (int t = 0; t < tokens.length; t++) {
      slots[t] = table.slot(t);
    }
    RadixKvCache.Node end = cache.insert(m.node(), Arrays.copyOfRange(tokens, m.length(), tokens.length),
        Arrays.copyOfRange(slots, m.length(), tokens.length));
    table.release();
    return end;
  }

  @Test
  void longestPrefixMatchSplitsANodeWithoutCopying() {
    PagePool pool = new PagePool(16, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    assertThat(cache.match(new int[] {1, 2}).length()).isZero();
    cacheSequence(cache, new int[] {1, 2, 3, 4, 5, 6, 7});
    assertThat(pool.pagesInUse()).isEqualTo(2); // 7 tokens in pages of 4, held by the cache alone

    RadixKvCache.Match m = cache.match(new int[] {1, 2, 3, 4, 5, 9});
    assertThat(m.length()).isEqualTo(5);
    assertThat(m.node().end()).isEqualTo(5);
    assertThat(cache.stats().nodes()).isEqualTo(2); // split into [1..5] and [6, 7]
    assertThat(pool.pagesInUse()).isEqualTo(2); // the split shares page 2, it does not copy it
    assertThat(copies).isEmpty();
    // Position 4 (logical page 1) is still the first sequence's: the split moved no KV.
    RadixKvCache.Node whole = cache.match(new int[] {1, 2, 3, 4, 5, 6, 7}).node();
    assertThat(cache.pageAt(m.node(), 1, 5)).isEqualTo(cache.pageAt(whole, 1, 7));
  }

  @Test
  void continuingInsidePageCopiesOnlyThatPage() {
    PagePool pool = new PagePool(16, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    cacheSequence(cache, new int[] {1, 2, 3, 4, 5, 6, 7});
    copies.clear();
    cacheSequence(cache, new int[] {1, 2, 3, 4, 5, 8, 9, 10, 11});
    // Prefix of 5: page 0 shared, page 1 holds positions 4..7 of the first sequence, so the
    // second copies its first row and continues in a fresh page.
    assertThat(copies).hasSize(1);
    assertThat(copies.get(0)[2]).isEqualTo(1);
    RadixKvCache.Match m = cache.match(new int[] {1, 2, 3, 4, 5, 8, 9, 10, 11});
    assertThat(m.length()).isEqualTo(9);
    RadixKvCache.Node first = cache.match(new int[] {1, 2, 3, 4, 5, 6, 7}).node();
    assertThat(cache.pageAt(m.node(), 0, 9)).isEqualTo(cache.pageAt(first, 0, 7));
    // Logical page 1 of the second sequence lives in the copy, not in the first sequence's page.
    assertThat(cache.pageAt(m.node(), 1, 9)).isNotEqualTo(cache.pageAt(first, 1, 7));
    assertThat(cache.pageAt(m.node(), 1, 5)).isEqualTo(cache.pageAt(first, 1, 7));
    assertThat(cache.stats().hitTokens()).isGreaterThanOrEqualTo(5);
  }

  @Test
  void lockedPathsSurviveAndEvictionIsLeastRecentlyUsedFirst() {
    PagePool pool = new PagePool(6, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    RadixKvCache.Node a = cacheSequence(cache, new int[] {1, 1, 1, 1, 1, 1, 1, 1}); // 2 pages
    RadixKvCache.Node b = cacheSequence(cache, new int[] {2, 2, 2, 2, 2, 2, 2, 2});
    RadixKvCache.Node c = cacheSequence(cache, new int[] {3, 3, 3, 3, 3, 3, 3, 3});
    assertThat(pool.freePages()).isZero();
    cache.match(new int[] {1, 1, 1, 1, 1, 1, 1, 1}); // a is now the most recent
    cache.lock(b);

    assertThat(cache.evictUntilFree(2)).isTrue(); // c is the oldest unlocked leaf
    assertThat(cache.match(new int[] {3}).length()).isZero();
    assertThat(cache.match(new int[] {1, 1}).length()).isEqualTo(2);

    assertThat(cache.evictUntilFree(6)).isFalse(); // b is locked: only a can go
    assertThat(pool.freePages()).isEqualTo(4);
    assertThat(cache.match(new int[] {2, 2, 2}).length()).isEqualTo(3);
    cache.unlock(b);
    assertThat(cache.evictUntilFree(6)).isTrue();
    assertThat(pool.pagesInUse()).isZero();
    // Three sequences, two of them split by the partial lookups above: five nodes in all.
    assertThat(cache.stats().evictedNodes()).isEqualTo(5);
    assertThat(a).isNotNull();
    assertThat(c).isNotNull();
  }

  @Test
  void evictionCascadesToParentsThatBecomeLeaves() {
    PagePool pool = new PagePool(16, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    cacheSequence(cache, new int[] {1, 2, 3, 4, 5, 6});
    cacheSequence(cache, new int[] {1, 2, 3, 4, 7, 8}); // shared 4-token parent, two leaves
    assertThat(cache.stats().nodes()).isEqualTo(3);
    assertThat(cache.evictUntilFree(16)).isTrue();
    assertThat(cache.stats().nodes()).isZero();
    assertThat(cache.stats().cachedTokens()).isZero();
    assertThat(pool.pagesInUse()).isZero();
  }

  @Test
  void weightVersionChangeDropsEverythingAndIsRefusedWhileLocked() {
    PagePool pool = new PagePool(16, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    RadixKvCache.Node n = cacheSequence(cache, new int[] {5, 6, 7, 8, 9});
    cache.lock(n);
    assertThatThrownBy(() -> cache.setWeightVersion(2)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("weight version").hasMessageContaining("1 sequences");
    cache.unlock(n);
    cache.setWeightVersion(2);
    assertThat(cache.weightVersion()).isEqualTo(2);
    assertThat(cache.match(new int[] {5, 6}).length()).isZero();
    assertThat(pool.pagesInUse()).isZero();
  }

  @Test
  void forkSharesFullPagesAndCopiesOrOwnsThePartialOne() {
    PagePool pool = new PagePool(8, PAGE);
    PageTable parent = new PageTable(pool);
    parent.reserve(6);
    parent.advance(6);
    PageTable owner = parent.fork(6, true, copier);
    PageTable other = parent.fork(6, false, copier);
    assertThat(owner.page(0)).isEqualTo(parent.page(0));
    assertThat(owner.page(1)).isEqualTo(parent.page(1)); // took over the tail
    assertThat(other.page(0)).isEqualTo(parent.page(0));
    assertThat(other.page(1)).isNotEqualTo(parent.page(1)); // copied 2 rows
    assertThat(copies).containsExactly(new int[] {parent.page(1), other.page(1), 2});
    assertThat(pool.refCount(parent.page(0))).isEqualTo(3);
    parent.release();
    owner.release();
    other.release();
    assertThat(pool.pagesInUse()).isZero();
  }

  /** Random sequences over a small alphabet, many shared prefixes, a tight pool. */
  @Test
  void randomWorkloadKeepsReferenceCountsExact() {
    SplittableRandom rng = new SplittableRandom(42);
    PagePool pool = new PagePool(40, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    List<RadixKvCache.Node> locked = new ArrayList<>();
    for (int round = 0; round < 400; round++) {
      int[] seq = rng.ints(1 + rng.nextInt(14), 0, 3).toArray();
      int worst = pool.pagesFor(seq.length) + 1;
      if (!cache.evictUntilFree(worst)) {
        RadixKvCache.Node n = locked.remove(0);
        cache.unlock(n);
        continue;
      }
      RadixKvCache.Node end = cacheSequence(cache, seq);
      assertThat(cache.match(seq).length()).isEqualTo(seq.length);
      if (rng.nextInt(4) == 0) {
        cache.lock(end);
        locked.add(end);
      }
      if (locked.size() > 3) {
        cache.unlock(locked.remove(0));
      }
    }
    locked.forEach(cache::unlock);
    cache.setWeightVersion(2);
    assertThat(pool.pagesInUse()).isZero();
    assertThat(cache.stats().nodes()).isZero();
    assertThat(cache.stats().evictedNodes()).isPositive();
  }

  @Test
  void aPathThatContinuedMidPageIsReusedWholeThroughItsCopies() {
    PagePool pool = new PagePool(16, PAGE);
    RadixKvCache cache = new RadixKvCache(pool, 1);
    cacheSequence(cache, new int[] {1, 2, 3, 4, 5, 6});
    // The longer sequence reuses 6 tokens and continues in a copy of page 1, so its logical page 1
    // holds positions 4, 5 in the first physical page and 6, 7 in the copy, which also holds
    // copies of 4 and 5.
    RadixKvCache.Node end = cacheSequence(cache, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9});
    RadixKvCache.Node shared = cache.match(new int[] {1, 2, 3, 4, 5, 6}).node();
    int copy = cache.pageAt(end, 1, 9);
    assertThat(copy).isNotEqualTo(cache.pageAt(shared, 1, 6));
    copies.clear();
    RadixKvCache.Match m = cache.match(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    assertThat(m.length()).isEqualTo(9);
    PageTable table = PageTable.prefix(pool, k -> cache.pageAt(m.node(), k, 9), 9, false, copier);
    // All nine tokens are reused: pages 0 and 1 shared (page 1 is the copy, whole), page 2's
    // one row copied.
    assertThat(table.length()).isEqualTo(9);
    assertThat(table.page(0)).isEqualTo(cache.pageAt(shared, 0, 6));
    assertThat(table.page(1)).isEqualTo(copy);
    assertThat(copies).hasSize(1);
    assertThat(copies.get(0)).containsExactly(cache.pageAt(end, 2, 9), table.page(2), 1);
    table.release();
  }
}
