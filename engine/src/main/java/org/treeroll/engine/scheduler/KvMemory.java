package org.treeroll.engine.scheduler;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;
import org.treeroll.kvcache.RadixKvCache;

/**
 * The scheduler's memory: which branches hold pages, and what the prefix cache keeps.
 *
 * <p>A branch that needs a page when none is free gives up its page table and waits; so does a
 * child whose fork finds no page to copy into. A waiting branch keeps its tokens and RNG; when
 * pages free up, {@link #resume} recomputes what the cache does not hold of its path in one
 * prefill and it goes on as if nothing happened. Prompts start as waiting branches, so prefill
 * is the same path.
 *
 * <p>With a {@link RadixKvCache}, every path computed on resume and every finished answer is
 * cached; a resumed path reuses its longest cached prefix. A branch locks the cache node at the
 * end of its cached prefix while it holds pages (as SGLang's lock_ref does), so eviction only
 * takes prefixes no live branch stands on, and those free real pages. Branches resumed in the
 * same step that share an uncached prefix are not computed side by side: the first computes it,
 * the others wait one step and then find it in the cache.
 */
final class KvMemory {
  /**
   * A shared uncached prefix shorter than this is computed by every branch that has it: waiting a
   * step would cost more latency than it saves work. SGLang's in-batch check uses 32 too.
   */
  static final int IN_BATCH_SHARE_TOKENS = 32;

  private final KvStore kv;
  private final RadixKvCache cache; // null: no reuse across requests
  private final ForwardPass forward;
  private final int maxStepTokens;
  private final Counters total;

  KvMemory(KvStore kv, RadixKvCache cache, ForwardPass forward, int maxStepTokens, Counters total) {
    this.kv = kv;
    this.cache = cache;
    this.forward = forward;
    this.maxStepTokens = maxStepTokens;
    this.total = total;
  }

  PagePool pool() {
    return kv.pool();
  }

  KvStore kv() {
    return kv;
  }

  RadixKvCache cache() {
    return cache;
  }

  /** Whether {@code pages} pages are free, after evicting unlocked cached prefixes if needed. */
  boolean makeRoom(int pages) {
    return kv.pool().freePages() >= pages || (cache != null && cache.evictUntilFree(pages));
  }

  /**
   * Gives waiting branches their pages and computes their paths, as many as memory allows, in
   * steps of at most {@code maxStepTokens} tokens; returns those resumed, each with its next
   * distribution.
   */
  List<Branch> resume(List<Branch> waiting) {
    List<Branch> resumed = new ArrayList<>();
    List<int[]> paths = new ArrayList<>();
    IntArrayList reused = new IntArrayList();
    int promised = 0; // pages the branches resumed so far will still take
    for (Branch b : waiting) {
      int[] path = b.pathTokens();
      if (sharesUncachedPrefix(path, paths, reused)) {
        continue; // another branch computes the shared part now; this one reuses it next step
      }
      CachedPrefix prefix = reuseCached(path, b.tree.run);
      int pages = kv.pool().pagesFor(path.length) + 1 - prefix.table.pageCount(); // +1: room to decode on
      if (!makeRoom(promised + pages)) {
        prefix.table.release();
        break; // first come, first served: later branches wait behind this one
      }
      if (prefix.length > 0) {
        total.hitTokens += prefix.length;
        b.tree.run.counters.hitTokens += prefix.length;
      }
      promised += pages;
      b.table = prefix.table;
      resumed.add(b);
      paths.add(path);
      reused.add(prefix.length);
    }
    int[] done = reused.toIntArray();
    for (boolean pending = !resumed.isEmpty(); pending; ) {
      List<SequenceChunk> chunks = new ArrayList<>();
      List<Branch> owners = new ArrayList<>();
      int budget = maxStepTokens;
      for (int i = 0; i < resumed.size() && budget > 0; i++) {
        int[] path = paths.get(i);
        if (done[i] == path.length) {
          continue;
        }
        int n = Math.min(path.length - done[i], budget);
        Branch b = resumed.get(i);
        b.table.reserve(n);
        chunks.add(new SequenceChunk(b.table, Arrays.copyOfRange(path, done[i], done[i] + n), false));
        owners.add(b);
        done[i] += n;
        budget -= n;
      }
      NextTokenDistributions d = forward.sample(chunks, owners, false);
      for (int r = 0; r < owners.size(); r++) {
        owners.get(r).setNext(d, r);
      }
      pending = false;
      for (int i = 0; i < resumed.size(); i++) {
        pending |= done[i] < paths.get(i).length;
      }
    }
    for (int i = 0; i < resumed.size(); i++) {
      Branch b = resumed.get(i);
      lock(b, cachePath(paths.get(i), b.table));
    }
    return resumed;
  }

  /**
   * Whether {@code path} shares at least {@link #IN_BATCH_SHARE_TOKENS} tokens, beyond what the
   * cache gave, with a path being computed in this step.
   */
  private static boolean sharesUncachedPrefix(int[] path, List<int[]> computing, IntArrayList cachedOf) {
    for (int i = 0; i < computing.size(); i++) {
      int[] other = computing.get(i);
      int n = Math.min(path.length, other.length) - 1; // the last token always runs
      int common = 0;
      while (common < n && path[common] == other[common]) {
        common++;
      }
      if (common - cachedOf.getInt(i) >= IN_BATCH_SHARE_TOKENS) {
        return true;
      }
    }
    return false;
  }

  /** A page table over the cached prefix of a path, and how many tokens that is. */
  private record CachedPrefix(PageTable table, int length) {}

  /**
   * A page table holding the longest cached prefix of {@code path} (never all of it: the last
   * token must run to give the next distribution); empty without a cache, and for a
   * batch-invariant run, which computes its whole path in fixed order: a cached page may hold KV
   * from a step in the faster order.
   */
  private CachedPrefix reuseCached(int[] path, RolloutRun run) {
    if (cache == null || run.params.batchInvariant()) {
      return new CachedPrefix(new PageTable(kv.pool()), 0);
    }
    RadixKvCache.Match m = cache.match(path);
    int reuse = Math.min(m.length(), path.length - 1);
    if (reuse == 0) {
      return new CachedPrefix(new PageTable(kv.pool()), 0);
    }
    // Making room for the copy of a partial page must not evict the very prefix being reused.
    cache.lock(m.node());
    try {
      if (reuse % kv.pool().pageSize() != 0 && !makeRoom(1)) {
        return new CachedPrefix(new PageTable(kv.pool()), 0);
      }
      return new CachedPrefix(PageTable.prefix(kv.pool(), k -> cache.pageAt(m.node(), k, reuse), reuse, false, kv),
          reuse);
    } finally {
      cache.unlock(m.node());
    }
  }

  /**
   * Indexes the computed prefix of {@code path} in the prefix cache; returns the node where it
   * ends, or null without a cache.
   */
  RadixKvCache.Node cachePath(int[] path, PageTable table) {
    if (cache == null) {
      return null;
    }
    int n = Math.min(path.length, table.length());
    int[] slots = new int[n];
    for (int t = 0; t < n; t++) {
      slots[t] = table.slot(t);
    }
    return cache.insert(cache.root(), n == path.length ? path : Arrays.copyOf(path, n), slots);
  }

  /** Keeps the cached prefix ending at {@code node} from eviction while {@code b} lives. */
  void lock(Branch b, RadixKvCache.Node node) {
    if (node != null && !node.isRoot()) {
      cache.lock(node);
      b.locked = node;
    }
  }

  /** Gives up a branch's pages and its lock: it waits to be resumed. */
  void suspend(Branch b) {
    release(b);
    b.next = null;
    total.suspensions++;
    b.tree.run.counters.suspensions++;
  }

  /** Returns a branch's pages and lock, if it holds them. */
  void release(Branch b) {
    if (b.locked != null) {
      cache.unlock(b.locked);
      b.locked = null;
    }
    if (b.table != null) {
      b.table.release();
      b.table = null;
    }
  }
}
