package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.List;
import java.util.Set;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.kvcache.PagePool;

/** A causal language model that runs batched forward steps over paged KV. */
public interface Model extends AutoCloseable {

  ModelConfig config();

  /** How the weight matrices are kept in memory: fp32, or a checkpoint's 16-bit type ({@link WeightPrecision}). */
  default org.treeroll.engine.io.DType weightType() {
    return org.treeroll.engine.io.DType.F32;
  }

  /** Where the weights live; per-step arrays are made there too. */
  Device device();

  /** Allocates fp32 KV tensors for every page of {@code pool}. */
  default KvStore newKvStore(PagePool pool) {
    return newKvStore(pool, KvDtype.F32);
  }

  /**
   * Allocates the KV tensors for every page of {@code pool}, keys and values stored as {@code dtype}.
   *
   * @throws org.treeroll.tree.TreeRollException in one line saying why, where this model's steps
   *     cannot read pages of {@code dtype} (16-bit pages need the Java Vector API kernels)
   */
  KvStore newKvStore(PagePool pool, KvDtype dtype);

  /**
   * One batched forward step over sequences of different lengths. The KV of every chunk's tokens
   * is written into its page table, which is then advanced.
   *
   * @return fp32 logits {@code [rows, vocab]} attached to {@code manager}: for each chunk in
   *     order, {@link SequenceChunk#logitRows()} rows
   */
  default NDArray forward(List<SequenceChunk> chunks, KvStore kv, NDManager manager) {
    return forward(chunks, kv, manager, false);
  }

  /**
   * {@link #forward(List, KvStore, NDManager)}, where {@code fixedOrder} makes every row's logits
   * (and the KV it writes) a function of its own sequence's tokens only, bit for bit: the same
   * whatever else shares the step, however the sequence's tokens were split into steps, and
   * from run to run (batch-invariant decoding, {@link org.treeroll.engine.sampling.SamplingParams#batchInvariant}).
   *
   * @throws IllegalStateException for {@code fixedOrder} where {@link #fixedOrderUnavailable} says why not
   */
  NDArray forward(List<SequenceChunk> chunks, KvStore kv, NDManager manager, boolean fixedOrder);

  /**
   * One batched step as {@link #forward(List, KvStore, NDManager, boolean)}, turned into each
   * logit row's next-token distribution at its temperature ({@code temperatures}, one per row):
   * {@link NextTokenDistributions#inFixedOrder} for {@code fixedOrder} steps, else
   * {@link NextTokenDistributions#of(NDArray, float[], boolean)} or the same computed where the
   * logits already are. {@code keepLogits}: keep the raw logits too.
   */
  default NextTokenDistributions distributions(List<SequenceChunk> chunks, KvStore kv, float[] temperatures,
      boolean keepLogits, boolean fixedOrder) {
    try (NDManager m = NDManager.newBaseManager(device())) {
      NDArray logits = forward(chunks, kv, m, fixedOrder);
      return fixedOrder ? NextTokenDistributions.inFixedOrder(logits, temperatures, keepLogits)
          : NextTokenDistributions.of(logits, temperatures, keepLogits);
    }
  }

  /**
   * Teacher-forced scoring of one chunk whose every token is a logit row: row {@code r}'s
   * log-prob of {@code targets[r]} under {@code softmax(logits / temperature)}, and that
   * distribution's entropy. Two floats per row leave the step.
   *
   * @return {log-probs, entropies}, one per row
   */
  default float[][] scores(SequenceChunk chunk, KvStore kv, int[] targets, double temperature) {
    try (NDManager m = NDManager.newBaseManager(device())) {
      NDArray logp = forward(List.of(chunk), kv, m, false).muli(1.0 / temperature).logSoftmax(-1);
      long[] rows = new long[targets.length];
      long[] columns = new long[targets.length];
      for (int r = 0; r < targets.length; r++) {
        rows[r] = r;
        columns[r] = targets[r];
      }
      NDArray picked = logp.get(new NDIndex("{}, {}", m.create(rows), m.create(columns)));
      return new float[][] {picked.toFloatArray(), NextTokenDistributions.entropies(logp.exp(), logp).toFloatArray()};
    }
  }

  /** Why this model cannot run {@code fixedOrder} steps, or null if it can. */
  String fixedOrderUnavailable();

  /** The input embedding row of {@code token} (a copy), e.g. for semantic branching scores. */
  float[] inputEmbedding(int token);

  /**
   * Reads, checks and converts new weights into this model's own layout, changing nothing: any
   * thread may call it while steps run. Every tensor must be one this model has, with its shape
   * and finite values; a norm weight that is folded into other matrices must come with them.
   * Tensors left out keep their values.
   *
   * @throws org.treeroll.tree.TreeRollException naming the first tensor refused and why
   */
  PreparedUpdate prepareUpdate(WeightUpdate update);

  /**
   * Copies a prepared update into the weights in place. Call it between forward steps, on the
   * thread that runs them: no step may run concurrently. Every later step, on either forward
   * path, uses the new weights.
   *
   * @throws org.treeroll.tree.TreeRollException before changing anything, if the update was
   *     prepared by another model, or against norm weights that an update applied since replaced
   */
  void applyUpdate(PreparedUpdate update);

  /** Weights read, checked and laid out by {@link #prepareUpdate}, ready to copy in. */
  interface PreparedUpdate {
    /** HF names of the tensors it replaces. */
    Set<String> names();

    /** Bytes it holds until applied (fp32, in the model's layout). */
    long bytes();
  }

  @Override
  void close();
}
