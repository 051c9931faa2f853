package org.treeroll.engine;

import java.util.List;
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
    cache.evictUntilFree(kv.pool().capacity()); // the generator does not evict on its own
    return generator.generate(prompts, params);
  }

  /** One rollout tree per prompt, grown by the config's branching policy. */
  public List<RolloutTree> rollout(List<int[]> prompts, TreeRolloutConfig config, SamplingParams params,
      RolloutHooks hooks) {
    return trees.sample(prompts, config, params, hooks);
  }

  /** Tree-sampler counters since the session opened. */
  public TreeSampler.Stats rolloutStats() {
    return trees.stats();
  }

  public List<Scorer.TokenScores> score(List<int[]> sequences, double temperature) {
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
