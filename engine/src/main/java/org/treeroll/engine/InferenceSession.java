package org.treeroll.engine;

import io.vertx.core.Vertx;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.RolloutStats;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.EngineStats;
import org.treeroll.engine.scheduler.Scheduler;
import org.treeroll.engine.scheduler.WeightSwapPolicy;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.TreeRollException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded engine: a loaded model, a KV pool of a given byte budget, and the scheduler that
 * owns them on its own Vert.x worker thread. Every call returns a future at once; requests from
 * any number of threads decode together in the same batched steps. A trainer in the same JVM
 * calls {@link #rollout} with prompts and a tree config, {@link #score} to recompute log-probs
 * teacher-forced, and {@link #updateWeights} after each optimizer step.
 */
public final class InferenceSession implements AutoCloseable {
  public static final int DEFAULT_PAGE_SIZE = 16;
  public static final int DEFAULT_STEP_TOKENS = 512;

  private static final Logger LOG = LoggerFactory.getLogger(InferenceSession.class);
  private final LoadedModel loaded;
  private final Vertx vertx;
  private final boolean ownsVertx;
  private final KvStore kv;
  private final Scheduler scheduler;

  /** An engine on its own Vert.x instance, with fp32 KV pages, the default page size and step size. */
  public InferenceSession(LoadedModel loaded, long kvBudgetBytes) {
    this(loaded, kvBudgetBytes, KvDtype.F32);
  }

  /** An engine on its own Vert.x instance, with KV pages of {@code kvDtype}, the default page size and step size. */
  public InferenceSession(LoadedModel loaded, long kvBudgetBytes, KvDtype kvDtype) {
    this(null, loaded, kvBudgetBytes, kvDtype, DEFAULT_PAGE_SIZE, DEFAULT_STEP_TOKENS);
  }

  /** {@link #InferenceSession(Vertx, LoadedModel, long, KvDtype, int, int)} with fp32 KV pages. */
  public InferenceSession(Vertx vertx, LoadedModel loaded, long kvBudgetBytes, int pageSize, int maxStepTokens) {
    this(vertx, loaded, kvBudgetBytes, KvDtype.F32, pageSize, maxStepTokens);
  }

  /**
   * @param vertx the Vert.x instance to run on (an HTTP server's, say), or null for one of its own
   * @param kvDtype how the KV pages store keys and values: BF16 fits twice the tokens of fp32 in
   *     the same budget, and is refused (one line, saying why) where the model's steps run on PyTorch
   * @param pageSize tokens per KV page
   * @param maxStepTokens tokens one forward step may carry (bounds prefill memory)
   */
  public InferenceSession(Vertx vertx, LoadedModel loaded, long kvBudgetBytes, KvDtype kvDtype, int pageSize,
      int maxStepTokens) {
    long bytesPerPage = KvStore.bytesPerToken(loaded.config(), kvDtype) * pageSize;
    long pages = kvBudgetBytes / Math.max(1, bytesPerPage);
    if (pageSize <= 0) {
      throw new TreeRollException("KV page size must be > 0, got " + pageSize);
    }
    if (pages < 1) {
      throw new TreeRollException("KV budget of " + kvBudgetBytes + " bytes holds no page of "
          + pageSize + " tokens (" + bytesPerPage + " bytes)");
    }
    this.loaded = loaded;
    this.kv = loaded.model().newKvStore(new PagePool((int) Math.min(pages, Integer.MAX_VALUE), pageSize), kvDtype);
    LOG.info("KV cache: {} pages of {} tokens ({} tokens) in {} MB, keys and values stored as {}{}", kv.pool().capacity(),
        pageSize, (long) kv.pool().capacity() * pageSize, kvBudgetBytes >> 20, kvDtype,
        kvDtype == KvDtype.F32 ? "" : " (" + KvStore.bytesPerToken(loaded.config(), KvDtype.F32)
            / KvStore.bytesPerToken(loaded.config(), kvDtype) + "x the tokens of f32 pages)");
    this.ownsVertx = vertx == null;
    this.vertx = ownsVertx ? Vertx.vertx() : vertx;
    try {
      this.scheduler = Scheduler.start(this.vertx, loaded.model(), kv, loaded.eosIds(), maxStepTokens, true,
          ids -> loaded.tokenizer().decode(ids, true));
    } catch (RuntimeException e) {
      kv.close();
      if (ownsVertx) {
        this.vertx.close();
      }
      throw e;
    }
  }

  public LoadedModel model() {
    return loaded;
  }

  /** How the KV pages store keys and values. */
  public KvDtype kvDtype() {
    return kv.dtype();
  }

  /** Tokens per KV page. */
  public int kvPageSize() {
    return kv.pool().pageSize();
  }

  /** KV bytes one page takes across all layers. */
  public long kvBytesPerPage() {
    return kv.bytesPerToken() * kv.pool().pageSize();
  }

  /** One rollout tree per prompt, grown by the config's branching policy. */
  public CompletableFuture<List<RolloutTree>> rollout(List<int[]> prompts, TreeRolloutConfig config,
      SamplingParams params, RolloutHooks hooks) {
    return scheduler.rollout(prompts, config, params, hooks);
  }

  /**
   * {@link #rollout} with trees numbered (and seeded) from {@code firstTreeId}: batches of one
   * dataset keep distinct tree ids (the export's group ids) and the same trees whatever the batch
   * size.
   */
  public CompletableFuture<List<RolloutTree>> rollout(List<int[]> prompts, int firstTreeId, TreeRolloutConfig config,
      SamplingParams params, RolloutHooks hooks) {
    return scheduler.rollout(prompts, firstTreeId, config, params, hooks);
  }

  /** One independent answer per prompt. */
  public CompletableFuture<List<Completion>> generate(List<int[]> prompts, SamplingParams params) {
    return scheduler.generate(prompts, params);
  }

  /** Teacher-forced log-probs of tokens {@code 1..n-1} of each sequence at {@code temperature}. */
  public CompletableFuture<List<TokenScores>> score(List<int[]> sequences, double temperature) {
    return scheduler.score(sequences, temperature);
  }

  /**
   * New weights (a HF directory, safetensors files or in-memory tensors; any subset of the
   * model's tensors, F32, BF16 or F16), checked completely before anything changes, swapped in
   * at a step boundary as {@code policy} says: by default after the requests in flight finish,
   * none of which ever sees two versions; the prefix cache is flushed. Answers with the new
   * version; a malformed update fails naming the tensor, and the old weights keep serving.
   */
  public CompletableFuture<Long> updateWeights(WeightUpdate update, WeightSwapPolicy policy) {
    return scheduler.updateWeights(update, policy);
  }

  /** A snapshot of the engine (weights version, pages, cache, requests), taken between steps. */
  public CompletableFuture<EngineStats> stats() {
    return scheduler.stats();
  }

  /** Work counters since the session opened. */
  public RolloutStats rolloutStats() {
    return scheduler.totals();
  }

  /**
   * Runs short tasks on the engine's thread between steps: the way for reward verdicts and other
   * writes to reach trees the engine may still be growing.
   */
  public Executor treeWriter() {
    return scheduler.owner();
  }

  /** Fails whatever is in flight, stops the engine's thread and frees the KV memory. */
  @Override
  public void close() {
    try {
      scheduler.close();
    } finally {
      kv.close();
      if (ownsVertx) {
        vertx.close().toCompletionStage().toCompletableFuture().join();
      }
    }
  }
}
