package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Locale;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.kvcache.PageCopier;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.TreeRollException;

/**
 * The KV tensors behind a {@link PagePool}: per layer one array of
 * {@code [pages * pageSize, 2 * kvHeads * headDim]}, a row per token slot holding its keys then
 * its values. Keys and values share a row so one gather reads both. fp32 pages are shared with
 * PyTorch where the model has PyTorch arrays (else Java's alone); BF16 pages ({@link KvDtype}) are
 * seen by the Java kernels only, in one direct buffer per layer.
 */
public final class KvStore implements PageCopier, AutoCloseable {
  private final PagePool pool;
  private final NDManager manager;
  private final SharedArray[] layers;
  private final int rowWidth;
  private final KvDtype dtype;
  private final long bytesPerToken;
  private volatile boolean closed;

  /** KV bytes one token takes across all layers of {@code cfg}, keys and values stored as {@code dtype}. */
  public static long bytesPerToken(ModelConfig cfg, KvDtype dtype) {
    return 2L * dtype.bytes() * cfg.numLayers() * cfg.numKvHeads() * cfg.headDim();
  }

  /** @param parent the model's PyTorch arrays, or null where it has none (its steps all run in Java) */
  KvStore(NDManager parent, PagePool pool, int numLayers, int rowWidth, KvDtype dtype) {
    this.pool = pool;
    this.dtype = dtype;
    this.rowWidth = rowWidth;
    long slots = (long) pool.capacity() * pool.pageSize();
    long layerBytes = slots * rowWidth * dtype.bytes();
    if (dtype != KvDtype.F32 && layerBytes > Integer.MAX_VALUE) {
      throw new TreeRollException(String.format(Locale.ROOT, "KV dtype %s: one layer's pages would take %.2f GB,"
          + " over the 2 GiB one 16-bit buffer holds; lower the KV budget or use f32", dtype, layerBytes / 1e9));
    }
    this.manager = parent == null ? null : parent.newSubManager();
    this.layers = new SharedArray[numLayers];
    for (int l = 0; l < numLayers; l++) {
      // Zeros, not garbage: masked slots are multiplied by an exact 0 and must not be NaN.
      layers[l] = dtype == KvDtype.F32 ? SharedArray.zeros(manager, new Shape(slots, rowWidth))
          : SharedArray.half(dtype.storage(), new Shape(slots, rowWidth));
    }
    this.bytesPerToken = (long) dtype.bytes() * rowWidth * numLayers;
  }

  /** How keys and values are stored. */
  public KvDtype dtype() {
    return dtype;
  }

  public PagePool pool() {
    return pool;
  }

  /** Layer {@code l}'s KV as PyTorch sees it; null for 16-bit pages, which only the Java kernels read. */
  NDArray layer(int l) {
    return layers[l].array();
  }

  /**
   * Layer {@code l}'s KV memory, row-major {@code [slots, rowWidth]}, as {@link SharedArray#chunks}
   * holds it; null unless {@link #shared}.
   *
   * @throws IllegalStateException once the store is closed: over 2 GB the memory is PyTorch's, and
   *     freed
   */
  List<ByteBuffer> layerChunks(int l) {
    if (closed) {
      throw new IllegalStateException("the KV store is closed");
    }
    return layers[l].chunks();
  }

  /** Whether Java sees every layer's KV (see {@link SharedArray}). */
  boolean shared() {
    for (SharedArray a : layers) {
      if (!a.visibleToJava()) {
        return false;
      }
    }
    return true;
  }

  /** Elements per token slot: keys then values of every KV head. */
  int rowWidth() {
    return rowWidth;
  }

  /** KV bytes one token takes across all layers. */
  public long bytesPerToken() {
    return bytesPerToken;
  }

  /** Bytes of KV tensors allocated for the whole pool. */
  public long capacityBytes() {
    return bytesPerToken * pool.capacity() * pool.pageSize();
  }

  /** Bytes of KV held by pages in use. */
  public long bytesInUse() {
    return bytesPerToken * pool.pagesInUse() * pool.pageSize();
  }

  /** Copies the first {@code tokens} rows of page {@code from} into page {@code to}, every layer. */
  @Override
  public void copy(int from, int to, int tokens) {
    long ps = pool.pageSize();
    if (layers[0].array() == null) {
      for (SharedArray layer : layers) {
        layer.copyWithin(from * ps * rowWidth, to * ps * rowWidth, (long) tokens * rowWidth);
      }
      return;
    }
    NDIndex src = new NDIndex("{}:{}", from * ps, from * ps + tokens);
    NDIndex dst = new NDIndex("{}:{}", to * ps, to * ps + tokens);
    try (NDManager tmp = manager.newSubManager()) {
      for (SharedArray layer : layers) {
        layer.array().set(dst, layer.array().get(tmp, src));
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    if (manager != null) {
      manager.close();
    }
  }
}
