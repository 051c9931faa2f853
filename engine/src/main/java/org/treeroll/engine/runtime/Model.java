package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.List;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.kvcache.PagePool;

/** A causal language model that runs batched forward steps over paged KV. */
public interface Model extends AutoCloseable {

  ModelConfig config();

  /** Where the weights live; per-step arrays are made there too. */
  Device device();

  /** Allocates the KV tensors for every page of {@code pool}. */
  KvStore newKvStore(PagePool pool);

  /**
   * One batched forward step over sequences of different lengths. The KV of every chunk's tokens
   * is written into its page table, which is then advanced.
   *
   * @return fp32 logits {@code [rows, vocab]} attached to {@code manager}: for each chunk in
   *     order, {@link SequenceChunk#logitRows()} rows
   */
  NDArray forward(List<SequenceChunk> chunks, KvStore kv, NDManager manager);

  /** The input embedding row of {@code token} (a copy), e.g. for semantic branching scores. */
  float[] inputEmbedding(int token);

  @Override
  void close();
}
