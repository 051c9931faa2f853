package org.treeroll.engine;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.runtime.Generator;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.Scorer;
import org.treeroll.engine.runtime.TreeSampler;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.tree.RolloutTree;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.RadixKvCache;
import org.treeroll.tree.TreeRollException;

/**
 * The embedded API: a loaded model with a KV pool of a given byte budget. A trainer in the same
 * JVM calls {@link #rollout} with prompts and a tree config and gets trees back; {@link #score}
 * recomputes log-probs teacher-forced.
 */
public final class InferenceSession implements AutoCloseable {
  public static final int DEFAULT_PAGE_SIZE = 16;
  public static final int DEFAULT_STEP_TOKENS = 512;

  private final LoadedModel loaded;
  private final KvStore kv;
  private final Generator generator;
  private final Scorer scorer;
  private final TreeSampler trees;
  private final RadixKvCache cache;

  public InferenceSession(LoadedModel loaded, long kvBudgetBytes) {
    this(loaded, kvBudgetBytes, DEFAULT_PAGE_SIZE, DEFAULT_STEP_TOKENS);
  }

  public InferenceSession(LoadedModel loaded, long kvBudgetBytes, int pageSize, int maxStepTokens) {
    var cfg = loaded.config();
    long bytesPerPage = KvStore.bytesPerToken(cfg) * pageSize;
    long pages = kvBudgetBytes / bytesPerPage;
    if (pages < 1) {
      throw new TreeRollException("KV budget of " + kvBudgetBytes + " bytes holds no page of "
          + pageSize + " tokens (" + bytesPerPage + " bytes)");
    }
    this.loaded = loaded;
    this.kv = loaded.model().newKvStore(new PagePool((int) Math.min(pages, Integer.MAX_VALUE), pageSize));
    this.cache = new RadixKvCache(kv.pool(), 0);
    this.generator = new Generator(loaded.model(), kv, maxStepTokens, loaded.eosIds());
    this.scorer = new Scorer(loaded.model(), kv, maxStepTokens);
    this.trees = new TreeSampler(loaded.model(), kv, loaded.eosIds(), maxStepTokens, cache);
  }

  public LoadedModel model() {
    return loaded;
  }

  public KvStore kv() {
    return kv;
  }

  public List<Completion> generate(List<int[]> prompts, SamplingParams params) {
    requireNoRollouts("generate");
    cache.evictUntilFree(kv.pool().capacity()); // the generator does not evict on its own
    return generator.generate(prompts, params);
  }

  /** One rollout tree per prompt, grown by the config's branching policy. */
  public List<RolloutTree> rollout(List<int[]> prompts, TreeRolloutConfig config, SamplingParams params,
      RolloutHooks hooks) {
    return trees.sample(prompts, config, params, hooks);
  }

  /**
   * {@link #rollout} without waiting: requests from several threads decode together in the same
   * batched steps, each joining at the next step (continuous batching).
   */
  public CompletableFuture<List<RolloutTree>> rolloutAsync(List<int[]> prompts, TreeRolloutConfig config,
      SamplingParams params, RolloutHooks hooks) {
    return trees.submit(prompts, config, params, hooks);
  }

  // Generation and scoring use the same pages as rollouts, from the caller's thread.
  private void requireNoRollouts(String what) {
    if (trees.busy()) {
      throw new TreeRollException(what + " was called while rollouts are in flight; wait for them first");
    }
  }

  /** Tree-sampler counters since the session opened. */
  public TreeSampler.Stats rolloutStats() {
    return trees.stats();
  }

  public List<Scorer.TokenScores> score(List<int[]> sequences, double temperature) {
    requireNoRollouts("score");
    cache.evictUntilFree(kv.pool().capacity()); // the scorer does not evict on its own
    return scorer.score(sequences, temperature);
  }

  /**
   * Declares new weights: cached prefixes computed under the old ones are dropped, and trees
   * sampled from now on carry {@code version}. Call it with every weight sync.
   */
  public void setWeightVersion(long version) {
    cache.setWeightVersion(version);
  }

  /** The prefix cache shared by rollouts of this session. */
  public RadixKvCache prefixCache() {
    return cache;
  }

  @Override
  public void close() {
    kv.close();
  }
}
