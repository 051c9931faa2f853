package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.EngineStats;
import org.treeroll.engine.scheduler.WeightSwapPolicy;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * Eight threads hammer one engine for a bounded time with rollouts of every shape, generation,
 * scoring, cancellations and weight updates that alternate between two checkpoints, under a KV
 * budget small enough to force eviction and suspension. Afterwards: every page is back, nothing
 * failed but what was cancelled or aborted on purpose (a page handed out twice, or touched by a
 * thread other than the scheduler's, fails the request that hit it), and every answer's recorded
 * log-probs equal its path rescored under the weights of its tree's version, which no tree could
 * match had it mixed versions.
 */
class EngineStressTest {
  private static final long RUN_NANOS = TimeUnit.SECONDS.toNanos(12);
  private static final String[] POLICIES = {"treepo", "entropy", "rose:per_round=2", "fixed:depths=1/2", "random"};

  @TempDir static Path tmp;

  /** A tree as it came back, with the checkpoint its version was set from. */
  private record Sampled(RolloutTree tree, double temperature) {}

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void eightThreadsOfMixedWorkLeaveConsistentTreesAndNoPagesBehind() throws Exception {
    Path dirA = tmp.resolve("a");
    Path dirB = tmp.resolve("b");
    RandomModelWriter.write(dirA, ModelPreset.TINY_QWEN3, 3, DType.BF16, tmp);
    RandomModelWriter.write(dirB, ModelPreset.TINY_QWEN3, 4, DType.F32, tmp);
    Map<Long, Path> weightsOf = new ConcurrentHashMap<>(Map.of(0L, dirA));
    ConcurrentLinkedQueue<Sampled> trees = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
    AtomicInteger cancelled = new AtomicInteger();
    AtomicInteger aborted = new AtomicInteger();
    AtomicInteger updates = new AtomicInteger();
    AtomicInteger ops = new AtomicInteger();

    try (LoadedModel model = LoadedModel.open(dirA);
        // 64 KB of KV: 32 pages of 4 tokens (512 bytes a token), far less than eight threads'
        // trees want at once, and enough for the longest single answer (9 pages).
        InferenceSession session = new InferenceSession(null, model, 64L << 10, 4, 64)) {
      int vocab = model.config().vocabSize();
      long deadline = System.nanoTime() + RUN_NANOS;
      ExecutorService threads = Executors.newFixedThreadPool(8);
      List<Future<?>> workers = new ArrayList<>();
      for (int w = 0; w < 8; w++) {
        long seed = w;
        workers.add(threads.submit(() -> {
          SplittableRandom rng = new SplittableRandom(seed);
          while (System.nanoTime() < deadline) {
            ops.incrementAndGet();
            try {
              switch (rng.nextInt(10)) {
                case 0, 1, 2, 3 -> {
                  double temperature = 0.7 + rng.nextDouble();
                  TreeRolloutConfig cfg = new TreeRolloutConfig(2 + rng.nextInt(5), 3, 1 + rng.nextInt(2),
                      4 + rng.nextInt(4), 2, 12).withPolicy(POLICIES[rng.nextInt(POLICIES.length)])
                      .withRepetition(RepetitionRule.OFF);
                  SamplingParams p = SamplingParams.defaults().withSeed(rng.nextLong()).withTemperature(temperature)
                      .withIgnoreEos(rng.nextBoolean());
                  for (RolloutTree t : session.rollout(prompts(rng, vocab, 1 + rng.nextInt(3)), cfg, p,
                      RolloutHooks.NONE).get(2, TimeUnit.MINUTES)) {
                    trees.add(new Sampled(t, temperature));
                  }
                }
                case 4, 5 -> session.generate(prompts(rng, vocab, 1 + rng.nextInt(4)),
                    SamplingParams.defaults().withSeed(rng.nextLong()).withMaxTokens(4 + rng.nextInt(12)))
                    .get(2, TimeUnit.MINUTES);
                case 6 -> session.score(prompts(rng, vocab, 2), 1.0).get(2, TimeUnit.MINUTES);
                case 7, 8 -> {
                  CompletableFuture<List<RolloutTree>> f = session.rollout(prompts(rng, vocab, 2),
                      new TreeRolloutConfig(4, 3, 2, 8, 2, 12), SamplingParams.defaults().withSeed(rng.nextLong()),
                      RolloutHooks.NONE);
                  Thread.sleep(rng.nextInt(20));
                  if (f.cancel(true)) {
                    cancelled.incrementAndGet();
                  } else {
                    f.get(2, TimeUnit.MINUTES); // finished first
                  }
                }
                default -> {
                  Path dir = rng.nextBoolean() ? dirA : dirB;
                  WeightSwapPolicy policy = rng.nextInt(3) == 0 ? WeightSwapPolicy.abortRequests()
                      : WeightSwapPolicy.waitForRequests();
                  long version = session.updateWeights(WeightUpdate.fromDirectory(dir), policy).get(2, TimeUnit.MINUTES);
                  weightsOf.put(version, dir);
                  updates.incrementAndGet();
                }
              }
            } catch (ExecutionException e) {
              if (e.getCause() instanceof TreeRollException t && t.getMessage().startsWith("aborted: the weights")) {
                aborted.incrementAndGet();
              } else {
                unexpected.add(e.getCause());
              }
            } catch (CancellationException e) {
              cancelled.incrementAndGet();
            } catch (Exception e) {
              unexpected.add(e);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : workers) {
        f.get(3, TimeUnit.MINUTES);
      }
      threads.shutdown();

      assertThat(unexpected).isEmpty();
      assertThat(trees).isNotEmpty();
      assertThat(updates.get()).isPositive();
      assertThat(cancelled.get()).isPositive();
      EngineStats idle = session.stats().get(1, TimeUnit.MINUTES);
      assertThat(idle.activeRequests()).isZero();
      assertThat(idle.liveBranches()).isZero();
      assertThat(idle.cacheLocks()).isZero();
      assertThat(idle.totals().suspensions()).as("the budget forced branches to give up pages").isPositive();

      // Rescore every answer under its tree's weights: swap them in (a swap flushes the cache,
      // so afterwards nothing at all holds a page) and score the paths teacher-forced.
      Map<Path, List<Sampled>> byWeights = new ConcurrentHashMap<>();
      for (Sampled s : trees) {
        Path dir = weightsOf.get(s.tree().weightVersion());
        assertThat(dir).as("version %d was set by a completed update", s.tree().weightVersion()).isNotNull();
        byWeights.computeIfAbsent(dir, d -> new ArrayList<>()).add(s);
      }
      int leaves = 0;
      for (Map.Entry<Path, List<Sampled>> e : byWeights.entrySet()) {
        session.updateWeights(WeightUpdate.fromDirectory(e.getKey()), WeightSwapPolicy.waitForRequests())
            .get(1, TimeUnit.MINUTES);
        assertThat(session.stats().get(1, TimeUnit.MINUTES).pagesInUse()).isZero();
        for (Sampled s : e.getValue()) {
          leaves += assertLeavesMatchRescoring(session, s);
        }
      }
      assertThat(leaves).isGreaterThan(trees.size());
      System.out.printf("stress: %d operations, %d trees (%d answers rescored), %d weight updates, %d cancelled,"
          + " %d aborted by updates, %d suspensions%n", ops.get(), trees.size(), leaves, updates.get(),
          cancelled.get(), aborted.get(), idle.totals().suspensions());
    }
  }

  private static int assertLeavesMatchRescoring(InferenceSession session, Sampled s) throws Exception {
    RolloutTree t = s.tree();
    List<int[]> paths = new ArrayList<>();
    for (SegmentNode leaf : t.leaves()) {
      int[] r = RolloutTree.responseTokens(leaf);
      int[] whole = Arrays.copyOf(t.prompt(), t.prompt().length + r.length);
      System.arraycopy(r, 0, whole, t.prompt().length, r.length);
      paths.add(whole);
    }
    var scores = session.score(paths, s.temperature()).get(1, TimeUnit.MINUTES);
    for (int i = 0; i < paths.size(); i++) {
      float[] recorded = RolloutTree.responseLogProbs(t.leaves().get(i));
      float[] rescored = scores.get(i).logProbs();
      for (int k = 0; k < recorded.length; k++) {
        assertThat((double) recorded[k]).as("tree of version %d, answer %d, token %d", t.weightVersion(), i, k)
            .isCloseTo(rescored[t.prompt().length - 1 + k], org.assertj.core.data.Offset.offset(1e-4));
      }
    }
    return paths.size();
  }

  private static List<int[]> prompts(SplittableRandom rng, int vocab, int n) {
    List<int[]> out = new ArrayList<>();
    // A shared head on some prompts, so that prefixes are cached, shared and evicted.
    int[] head = {11, 12, 13, 14, 15, 16};
    for (int i = 0; i < n; i++) {
      int[] p = rng.ints(2 + rng.nextInt(10), 0, vocab).toArray();
      if (rng.nextBoolean()) {
        int[] q = Arrays.copyOf(head, head.length + p.length);
        System.arraycopy(p, 0, q, head.length, p.length);
        p = q;
      }
      out.add(p);
    }
    return out;
  }
}
