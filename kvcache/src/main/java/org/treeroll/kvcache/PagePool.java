package org.treeroll.kvcache;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import org.treeroll.tree.TreeRollException;

/**
 * Bookkeeping for a fixed pool of KV pages. A page holds the keys and values of {@code pageSize}
 * consecutive tokens of one sequence in every layer; the tensors themselves live in the engine,
 * indexed by page id. Pages are reference counted so that a forked branch can share every full
 * page of its parent: a page returns to the free list when its last holder releases it.
 *
 * <p>Not thread-safe: the engine's scheduler thread owns it. Once {@link #confineTo} names that
 * thread, any other thread that touches the counts is refused, and a page is never handed out
 * while a holder still has it.
 */
public final class PagePool {
  private final int pageSize;
  private final int[] refCounts;
  private final IntArrayList free;
  private int peakInUse;
  private Thread owner; // null: not confined

  public PagePool(int capacity, int pageSize) {
    if (capacity <= 0) {
      throw new TreeRollException("KV page capacity must be > 0, got " + capacity);
    }
    if (pageSize <= 0) {
      throw new TreeRollException("KV page size must be > 0, got " + pageSize);
    }
    this.pageSize = pageSize;
    this.refCounts = new int[capacity];
    this.free = new IntArrayList(capacity);
    // Hand out low ids first: a fresh pool fills its tensors front to back.
    for (int p = capacity - 1; p >= 0; p--) {
      free.add(p);
    }
  }

  /** From now on only {@code thread} may allocate, retain or release pages. */
  public void confineTo(Thread thread) {
    owner = thread;
  }

  public int pageSize() {
    return pageSize;
  }

  public int capacity() {
    return refCounts.length;
  }

  public int freePages() {
    return free.size();
  }

  public int pagesInUse() {
    return refCounts.length - free.size();
  }

  public int peakPagesInUse() {
    return peakInUse;
  }

  /** Pages needed to hold {@code tokens} tokens. */
  public int pagesFor(int tokens) {
    return (tokens + pageSize - 1) / pageSize;
  }

  /** Takes a free page with reference count 1, or returns -1 when none is free. */
  public int allocate() {
    checkOwner();
    if (free.isEmpty()) {
      return -1;
    }
    int page = free.popInt();
    if (refCounts[page] != 0) {
      throw new IllegalStateException("KV page " + page + " would be handed out twice: it still has "
          + refCounts[page] + " holders");
    }
    refCounts[page] = 1;
    peakInUse = Math.max(peakInUse, pagesInUse());
    return page;
  }

  /** Adds a holder to a page in use (a fork sharing it). */
  public void retain(int page) {
    checkInUse(page);
    refCounts[page]++;
  }

  /** Drops one holder; the page is free again when none is left. */
  public void release(int page) {
    checkInUse(page);
    if (--refCounts[page] == 0) {
      free.add(page);
    }
  }

  public int refCount(int page) {
    return refCounts[page];
  }

  private void checkOwner() {
    if (owner != null && Thread.currentThread() != owner) {
      throw new IllegalStateException("KV pages are owned by thread " + owner.getName() + ", touched from "
          + Thread.currentThread().getName());
    }
  }

  private void checkInUse(int page) {
    checkOwner();
    if (page < 0 || page >= refCounts.length || refCounts[page] == 0) {
      throw new IllegalStateException("KV page " + page + " is not in use");
    }
  }
}
