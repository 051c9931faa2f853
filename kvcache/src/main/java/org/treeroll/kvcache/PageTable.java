package org.treeroll.kvcache;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import org.treeroll.tree.TreeRollException;

/**
 * The pages holding one sequence's KV, in token order: token {@code t} lives in page
 * {@code pages[t / pageSize]} at offset {@code t % pageSize}. A fork copies the list and retains
 * the shared pages instead of copying their contents.
 */
public final class PageTable {
  private final PagePool pool;
  private final IntArrayList pages = new IntArrayList();
  private int length;

  public PageTable(PagePool pool) {
    this.pool = pool;
  }

  /** Tokens whose KV this table holds. */
  public int length() {
    return length;
  }

  /** Tokens the reserved pages can hold. */
  public int capacity() {
    return pages.size() * pool.pageSize();
  }

  public int pageCount() {
    return pages.size();
  }

  public int page(int index) {
    return pages.getInt(index);
  }

  /** The flat slot of token {@code t}: {@code page * pageSize + offset}. */
  public int slot(int t) {
    int ps = pool.pageSize();
    return pages.getInt(t / ps) * ps + t % ps;
  }

  /**
   * Makes room for {@code extra} more tokens, allocating pages as needed. Either all needed pages
   * are allocated or none is.
   *
   * @throws TreeRollException when the pool has too few free pages
   */
  public void reserve(int extra) {
    int needed = pool.pagesFor(length + extra) - pages.size();
    if (needed > pool.freePages()) {
      throw new TreeRollException("KV cache is full: need " + needed + " more pages of "
          + pool.pageSize() + " tokens, " + pool.freePages() + " free of " + pool.capacity()
          + "; raise the KV budget or lower the batch");
    }
    for (int i = 0; i < needed; i++) {
      pages.add(pool.allocate());
    }
  }

  /** Records that {@code count} reserved token slots now hold KV. */
  public void advance(int count) {
    if (pool.pagesFor(length + count) > pages.size()) {
      throw new IllegalStateException("advance past reserved pages");
    }
    length += count;
  }

  /** Returns every page to the pool; the table is empty afterwards. */
  public void release() {
    for (int i = 0; i < pages.size(); i++) {
      pool.release(pages.getInt(i));
    }
    pages.clear();
    length = 0;
  }
}
