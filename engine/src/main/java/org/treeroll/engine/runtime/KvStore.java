package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.List;
import org.treeroll.kvcache.PageCopier;
import org.treeroll.kvcache.PagePool;

/**
 * The KV tensors behind a {@link PagePool}: per layer one array of
 * {@code [pages * pageSize, 2 * kvHeads * headDim]}, a row per token slot holding its keys then
 * its values. Keys and values share a row so one gather reads both.
 */
public final class KvStore implements PageCopier, AutoCloseable {
  private final PagePool pool;
  private final NDManager manager;
  private final SharedArray[] layers;
  private final int rowWidth;
  private final long bytesPerToken;
  private volatile boolean closed;

  /** KV bytes one token takes across all layers of {@code cfg} (fp32 keys and values). */
  public static long bytesPerToken(org.treeroll.engine.model.ModelConfig cfg) {
    return 8L * cfg.numLayers() * cfg.numKvHeads() * cfg.headDim();
  }

  KvStore(NDManager parent, PagePool pool, int numLayers, int rowWidth) {
    this.pool = pool;
    this.manager = parent.newSubManager();
    this.layers = new SharedArray[numLayers];
    this.rowWidth = rowWidth;
    long slots = (long) pool.capacity() * pool.pageSize();
    for (int l = 0; l < numLayers; l++) {
      // Zeros, not garbage: masked slots are multiplied by an exact 0 and must not be NaN.
      layers[l] = SharedArray.zeros(manager, new Shape(slots, rowWidth));
    }
    this.bytesPerToken = 4L * rowWidth * numLayers;
  }

  public PagePool pool() {
    return pool;
  }

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

  /** Floats per token slot: keys then values of every KV head. */
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
    int ps = pool.pageSize();
    NDIndex src = new NDIndex("{}:{}", (long) from * ps, (long) from * ps + tokens);
    NDIndex dst = new NDIndex("{}:{}", (long) to * ps, (long) to * ps + tokens);
    try (NDManager tmp = manager.newSubManager()) {
      for (SharedArray layer : layers) {
        layer.array().set(dst, layer.array().get(tmp, src));
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    manager.close();
  }
}
