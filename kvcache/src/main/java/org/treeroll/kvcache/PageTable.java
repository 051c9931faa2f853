package org.treeroll.kvcache;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import org.treeroll.tree.TreeRollException;

/**
 * The pages holding one sequence's KV, in token order: token {@code t} lives in page
 * {@code pages[t / pageSize]} at offset {@code t % pageSize}. Every page in the pool keeps that
 * alignment (offset {@code o} only ever holds a token at a position {@code = o mod pageSize}), so
 * a prefix can be shared page by page. A fork retains the shared full pages instead of copying
 * them; only a partially covered last page may need a copy (see {@link #prefix}).
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

  /**
   * A new table holding the first {@code tokens} tokens of a sequence whose page {@code k} is
   * {@code pageAt.applyAsInt(k)}. Full pages are shared (retained). A partially covered last
   * page is shared too when {@code ownTail} (the new table will write its free offsets: only one
   * sequence may own a page's tail), else its covered rows are copied into a fresh page.
   *
   * @throws TreeRollException when a fresh page is needed and none is free
   */
  public static PageTable prefix(PagePool pool, java.util.function.IntUnaryOperator pageAt,
      int tokens, boolean ownTail, PageCopier copier) {
    PageTable t = new PageTable(pool);
    int ps = pool.pageSize();
    int full = tokens / ps;
    int rest = tokens % ps;
    if (rest > 0 && !ownTail && pool.freePages() == 0) {
      throw new TreeRollException("KV cache is full: no free page to copy a partial page into");
    }
    for (int k = 0; k < full; k++) {
      int page = pageAt.applyAsInt(k);
      pool.retain(page);
      t.pages.add(page);
    }
    if (rest > 0) {
      int page = pageAt.applyAsInt(full);
      if (ownTail) {
        pool.retain(page);
        t.pages.add(page);
      } else {
        int copy = pool.allocate();
        copier.copy(page, copy, rest);
        t.pages.add(copy);
      }
    }
    t.length = tokens;
    return t;
  }

  /** This table's first {@code tokens} tokens as a new table (see {@link #prefix}). */
  public PageTable fork(int tokens, boolean ownTail, PageCopier copier) {
    if (tokens > length) {
      throw new IllegalArgumentException("fork at " + tokens + " past length " + length);
    }
    return prefix(pool, pages::getInt, tokens, ownTail, copier);
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
