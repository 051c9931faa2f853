package org.treeroll.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

class PagePoolTest {
  @Test
  void sharedPageIsFreedByItsLastHolder() {
    PagePool pool = new PagePool(4, 16);
    int page = pool.allocate();
    pool.retain(page);
    assertThat(pool.refCount(page)).isEqualTo(2);
    pool.release(page);
    assertThat(pool.pagesInUse()).isEqualTo(1);
    pool.release(page);
    assertThat(pool.pagesInUse()).isZero();
    assertThatThrownBy(() -> pool.release(page)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void exhaustedPoolReturnsMinusOneAndTracksPeak() {
    PagePool pool = new PagePool(2, 8);
    int a = pool.allocate();
    int b = pool.allocate();
    assertThat(a).isNotEqualTo(b);
    assertThat(pool.allocate()).isEqualTo(-1);
    pool.release(a);
    assertThat(pool.peakPagesInUse()).isEqualTo(2);
    assertThat(pool.freePages()).isEqualTo(1);
  }

  @Test
  void pageTableMapsTokensToSlotsAndReservesAllOrNothing() {
    PagePool pool = new PagePool(3, 4);
    PageTable t = new PageTable(pool);
    t.reserve(6); // two pages
    t.advance(6);
    assertThat(t.pageCount()).isEqualTo(2);
    assertThat(t.slot(5)).isEqualTo(t.page(1) * 4 + 1);
    assertThatThrownBy(() -> t.reserve(7)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("KV cache is full");
    assertThat(pool.pagesInUse()).isEqualTo(2); // the failed reserve took nothing
    t.release();
    assertThat(pool.pagesInUse()).isZero();
    assertThat(t.length()).isZero();
  }

  @Test
  void advancingPastReservedPagesIsABug() {
    PageTable t = new PageTable(new PagePool(2, 4));
    t.reserve(3);
    assertThatThrownBy(() -> t.advance(5)).isInstanceOf(IllegalStateException.class);
  }
}
