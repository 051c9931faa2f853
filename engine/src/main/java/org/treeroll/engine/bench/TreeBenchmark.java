package org.treeroll.engine.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.Model;
import io.vertx.core.Vertx;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.scheduler.Scheduler;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.RolloutTree;

/**
 * Tree rollouts against independent sampling of the same number of answers per prompt, in the
 * same engine: tokens fed through the model, wall-clock, peak KV in use. EOS is ignored so both
 * sides produce answers of the same length and the comparison is about sharing alone.
 */
public final class TreeBenchmark {
  private TreeBenchmark() {}

  /**
   * One side of a comparison.
   *
   * @param pathTokens tokens of every answer's whole path, prompt included: what sampling each
   *     answer alone with no sharing at all would compute
   */
  public record Side(long computedTokens, long independentTokens, long pathTokens, double seconds,
      long peakKvBytes, int leaves) {
    /** Share of path tokens whose KV was reused (shared prompt or prefix) instead of computed. */
    public double hitRate() {
      return 1 - (double) computedTokens / pathTokens;
    }
  }

  /** Tree and independent sampling at one leaf count. */
  public record Row(int leaves, Side tree, Side independent) {
    public double tokenRatio() {
      return (double) tree.computedTokens / independent.computedTokens;
    }

    public double timeRatio() {
      return tree.seconds / independent.seconds;
    }
  }

  public static Row compare(Model model, long kvBudgetBytes, int prompts, int promptTokens,
      TreeRolloutConfig tree, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    List<int[]> ps = new ArrayList<>();
    for (int i = 0; i < prompts; i++) {
      ps.add(rng.ints(promptTokens, 0, model.config().vocabSize()).toArray());
    }
    SamplingParams params = SamplingParams.defaults().withIgnoreEos(true).withSeed(seed);
    Side t = run(model, kvBudgetBytes, ps, tree, params);
    Side ind = run(model, kvBudgetBytes, ps,
        TreeRolloutConfig.independent(tree.leafBudget(), tree.maxTokens()), params);
    return new Row(tree.leafBudget(), t, ind);
  }

  private static Side run(Model model, long kvBudgetBytes, List<int[]> prompts,
      TreeRolloutConfig cfg, SamplingParams params) {
    long bytesPerPage = KvStore.bytesPerToken(model.config(), KvDtype.F32) * 16;
    PagePool pool = new PagePool((int) (kvBudgetBytes / bytesPerPage), 16);
    Vertx vertx = Vertx.vertx();
    try (KvStore kv = model.newKvStore(pool);
        Scheduler engine = Scheduler.start(vertx, model, kv, new int[0], 4096, false)) {
      long t0 = System.nanoTime();
      List<RolloutTree> trees = engine.rollout(prompts, cfg, params, RolloutHooks.NONE).join();
      double sec = (System.nanoTime() - t0) / 1e9;
      long independent = trees.stream().mapToLong(RolloutTree::independentTokens).sum();
      int leaves = trees.stream().mapToInt(t -> t.leaves().size()).sum();
      long paths = trees.stream().flatMap(t -> t.leaves().stream()).mapToLong(l -> l.pathLength()).sum();
      return new Side(engine.totals().computedTokens(), independent, paths, sec,
          (long) pool.peakPagesInUse() * bytesPerPage, leaves);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().join();
    }
  }
}
