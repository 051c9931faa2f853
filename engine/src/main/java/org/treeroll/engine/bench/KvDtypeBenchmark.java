package org.treeroll.engine.bench;

import java.util.ArrayList;
import java.util.List;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.Rescored;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.tree.RolloutTree;

/**
 * What 16-bit KV pages do to log-probs: the same trees are sampled with KV pages of each type,
 * and every answer's recorded log-probs are compared with those of the answer rescored alone,
 * teacher-forced, over fp32 KV pages. With fp32 pages that difference is the engine's own noise
 * floor (batched against one-row kernels, ~1e-6); with BF16 pages it adds what rounding every
 * key and value to BF16 moves.
 */
public final class KvDtypeBenchmark {
  private KvDtypeBenchmark() {}

  /**
   * One KV type's rollout against fp32 rescoring.
   *
   * @param pages KV pages the budget held
   * @param answers answers sampled
   * @param seconds wall-clock of the rollout
   */
  public record Row(KvDtype kv, long pages, int answers, Rescored diff, double seconds) {}

  public static List<Row> run(LoadedModel lm, List<int[]> prompts, TreeRolloutConfig cfg, SamplingParams params,
      long kvBudgetBytes, List<KvDtype> kvs) {
    List<Row> rows = new ArrayList<>();
    try (InferenceSession reference = new InferenceSession(lm, kvBudgetBytes, KvDtype.F32)) {
      for (KvDtype kv : kvs) {
        try (InferenceSession session = new InferenceSession(lm, kvBudgetBytes, kv)) {
          long t0 = System.nanoTime();
          List<RolloutTree> trees = session.rollout(prompts, cfg, params, RolloutHooks.NONE).join();
          double seconds = (System.nanoTime() - t0) / 1e9;
          int answers = trees.stream().mapToInt(t -> t.leaves().size()).sum();
          rows.add(new Row(kv, session.stats().join().pages(), answers,
              Rescored.of(reference, trees, params.logprobTemperature()), seconds));
        }
      }
    }
    return rows;
  }
}
