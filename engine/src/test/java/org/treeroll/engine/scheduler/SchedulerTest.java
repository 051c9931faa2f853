package org.treeroll.engine.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.treeroll.branching.BranchingPolicies;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.TinyModels;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.LlamaDecoder;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.RolloutStats;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/** The scheduler on a tiny random model: tree shapes, parity with rescoring, memory, concurrency. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class SchedulerTest {
  static final ModelConfig CFG = ModelPreset.TINY_QWEN2.config();
  static LlamaDecoder model;
  static Vertx vertx;

  // Segments of 5 tokens over pages of 4: forks fall inside pages, so partial pages get copied.
  static final TreeRolloutConfig SHAPE = new TreeRolloutConfig(5, 4, 2, 8, 2, 20);
  static final SamplingParams PARAMS = SamplingParams.defaults().withSeed(3).withTemperature(1.2);
  static final List<int[]> PROMPTS = List.of(new int[] {5, 6, 7, 8, 9, 10, 11}, new int[] {40, 41, 42});

  @BeforeAll
  static void load() {
    model = LlamaDecoder.load(CFG, TinyModels.weights(CFG, 21), DjlRuntime.device());
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void close() {
    await(vertx.close().toCompletionStage().toCompletableFuture());
    model.close();
  }

  /** An engine over a pool of its own; closing it frees the pool's tensors. */
  private static final class Engine implements AutoCloseable {
    final KvStore kv;
    final Scheduler scheduler;

    Engine(int pages, boolean prefixCache) {
      kv = model.newKvStore(new PagePool(pages, 4));
      scheduler = Scheduler.start(vertx, model, kv, CFG.eosTokenIds(), 64, prefixCache);
    }

    List<RolloutTree> sample(List<int[]> prompts, TreeRolloutConfig cfg, SamplingParams params, RolloutHooks hooks) {
      return await(scheduler.rollout(prompts, cfg, params, hooks));
    }

    List<RolloutTree> sample(SamplingParams params) {
      return sample(PROMPTS, SHAPE, params, RolloutHooks.NONE);
    }

    EngineStats stats() {
      return await(scheduler.stats());
    }

    /** Drops the prefix cache (a swap to new weights that are the old ones). */
    void flush() {
      await(scheduler.swapWeights(() -> {}, WeightSwapPolicy.waitForRequests()));
    }

    void assertLeafMatchesRescoring(RolloutTree tree, SegmentNode leaf, SamplingParams params) {
      int[] prompt = tree.prompt();
      int[] response = RolloutTree.responseTokens(leaf);
      int[] whole = Arrays.copyOf(prompt, prompt.length + response.length);
      System.arraycopy(response, 0, whole, prompt.length, response.length);
      float[] rescored = await(scheduler.score(List.of(whole), params.logprobTemperature())).get(0).logProbs();
      float[] recorded = RolloutTree.responseLogProbs(leaf);
      for (int t = 0; t < recorded.length; t++) {
        assertThat((double) recorded[t]).as("tree %d leaf %d token %d", tree.id(), leaf.id(), t)
            .isCloseTo(rescored[prompt.length - 1 + t], org.assertj.core.data.Offset.offset(1e-4));
      }
    }

    void assertEveryLeafMatchesRescoring(List<RolloutTree> trees, SamplingParams params) {
      for (RolloutTree t : trees) {
        for (SegmentNode leaf : t.leaves()) {
          assertLeafMatchesRescoring(t, leaf, params);
        }
      }
    }

    @Override
    public void close() {
      scheduler.close();
      kv.close();
    }
  }

  static <T> T await(CompletableFuture<T> f) {
    try {
      return f.get(2, TimeUnit.MINUTES);
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : new RuntimeException(e.getCause());
    } catch (Exception e) {
      throw new RuntimeException(e);
    }
  }

  @Test
  void everyLeafsLogProbsEqualRescoringItsPathAlone() {
    try (Engine e = new Engine(256, false)) {
      List<RolloutTree> trees = e.sample(PARAMS);
      assertThat(e.stats().pagesInUse()).isZero();
      e.assertEveryLeafMatchesRescoring(trees, PARAMS);
      assertThat(trees.stream().mapToInt(t -> t.leaves().size()).sum()).isGreaterThan(4);
    }
  }

  @Test
  void sharedTokensAreComputedOnceAndTheBudgetIsFilled() {
    try (Engine e = new Engine(256, false)) {
      List<RolloutTree> trees = e.sample(PARAMS.withIgnoreEos(true));
      long expected = 0;
      for (RolloutTree t : trees) {
        // Without early stops every path runs to the depth limit and the budget is met exactly:
        // 2 paths, then 4, then 8, then 8 continuing.
        assertThat(t.leaves()).hasSize(SHAPE.leafBudget());
        // 20 tokens = 4 segments of 5: both limits hit at once; TreePO ranks length before depth.
        assertThat(t.leaves()).allMatch(l -> l.finishReason() == FinishReason.MAX_TOKENS);
        assertThat(t.leaves()).allMatch(l -> RolloutTree.responseTokens(l).length == 20);
        // Every token of the tree is fed once, except each leaf's last (sampled, never needed).
        expected += t.distinctTokens() - t.leaves().size();
        assertThat(t.distinctTokens()).isLessThan(t.independentTokens());
      }
      assertThat(e.scheduler.totals().computedTokens()).isEqualTo(expected);
    }
  }

  @Test
  void independentModeSharesOnlyThePrompt() {
    try (Engine e = new Engine(256, false)) {
      int[] prompt = {5, 6, 7, 8, 9, 10, 11};
      RolloutTree t = e.sample(List.of(prompt), TreeRolloutConfig.independent(4, 12), PARAMS.withIgnoreEos(true),
          RolloutHooks.NONE).get(0);
      assertThat(t.leaves()).hasSize(4);
      assertThat(t.leaves()).allMatch(l -> l.parent() == t.root() && l.tokenCount() == 12);
      // The prompt once, then 11 fed tokens per answer (its last is only sampled).
      assertThat(e.scheduler.totals().computedTokens()).isEqualTo(prompt.length + 4 * 11);
      assertThat(t.distinctTokens()).isEqualTo(t.independentTokens());
      assertThat(e.stats().pagesInUse()).isZero();
    }
  }

  @Test
  void everySampledTokenIsReportedInOrderBeforeItsAnswerEnds() {
    try (Engine e = new Engine(256, false)) {
      java.util.Map<SegmentNode, List<Integer>> seen = new java.util.IdentityHashMap<>();
      java.util.Map<SegmentNode, Integer> atFinish = new java.util.IdentityHashMap<>();
      RolloutHooks hooks = new RolloutHooks() {
        @Override
        public void tokenSampled(RolloutTree tree, SegmentNode node) {
          List<Integer> ids = seen.computeIfAbsent(node, n -> new ArrayList<>());
          assertThat(node.tokenCount()).isEqualTo(ids.size() + 1); // the new token is the last
          ids.add(node.token(node.tokenCount() - 1));
        }

        @Override
        public void leafFinished(RolloutTree tree, SegmentNode leaf) {
          atFinish.put(leaf, seen.get(leaf).size());
        }
      };
      RolloutTree t = e.sample(List.of(new int[] {5, 6, 7}), TreeRolloutConfig.independent(3, 10), PARAMS, hooks).get(0);
      assertThat(t.leaves()).hasSize(3);
      for (SegmentNode leaf : t.leaves()) {
        assertThat(seen.get(leaf)).containsExactlyElementsOf(
            Arrays.stream(leaf.tokens()).boxed().toList());
        assertThat(atFinish.get(leaf)).isEqualTo(leaf.tokenCount());
      }
    }
  }

  @Test
  void lateForksShareLongPrefixes() {
    try (Engine e = new Engine(256, false)) {
      // One path for three segments, then doubling: 1, 1, 1, 2 paths; then 4 leaves.
      TreeRolloutConfig shape = new TreeRolloutConfig(5, 4, 1, 4, 2, 20).withPolicy("fixed:depths=2/3");
      RolloutTree t = e.sample(List.of(new int[] {1, 2, 3}), shape, PARAMS.withIgnoreEos(true), RolloutHooks.NONE)
          .get(0);
      assertThat(t.leaves()).hasSize(4);
      // Segments decoded: 1 + 1 + 2 + 4 = 8 of 5 tokens, against 16 for four independent answers.
      assertThat(t.distinctTokens() - 3).isEqualTo(8 * 5);
      assertThat(t.independentTokens() - 3).isEqualTo(16 * 5);
    }
  }

  /**
   * With a tenth of the pages the trees need, branches give up their pages and recompute them
   * later: every tree still completes, and every leaf still matches its path rescored alone.
   */
  @Test
  void aBudgetTenTimesTooSmallStillGivesCorrectTrees() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    List<RolloutTree> expected;
    int peak;
    long roomyTokens;
    try (Engine roomy = new Engine(256, false)) {
      expected = roomy.sample(params);
      peak = roomy.stats().peakPagesInUse();
      roomyTokens = roomy.scheduler.totals().computedTokens();
    }
    int pages = Math.max(peak / 10, 8); // 8 = what one answer of 7 + 20 tokens needs, plus one
    try (Engine tight = new Engine(pages, true)) {
      List<RolloutTree> trees = tight.sample(params);
      RolloutStats s = tight.scheduler.totals();
      assertThat(s.suspensions()).isPositive();
      assertThat(tight.stats().peakPagesInUse()).isLessThanOrEqualTo(pages);
      assertThat(s.computedTokens()).isGreaterThan(roomyTokens); // recomputation
      for (int i = 0; i < trees.size(); i++) {
        assertThat(trees.get(i).leaves()).hasSize(expected.get(i).leaves().size());
      }
      tight.assertEveryLeafMatchesRescoring(trees, params);
      tight.flush();
      assertThat(tight.stats().pagesInUse()).isZero();
    }
    assertThat(peak).isGreaterThan(20);
  }

  @Test
  void promptsAreReusedAcrossRequestsUntilTheWeightsChange() {
    List<String> expected;
    try (Engine plain = new Engine(256, false)) {
      expected = shapes(plain.sample(PARAMS));
    }
    try (Engine cached = new Engine(256, true)) {
      await(cached.scheduler.swapWeights(() -> {}, WeightSwapPolicy.waitForRequests().withVersion(5)));
      List<RolloutTree> first = cached.sample(PARAMS);
      long firstTokens = cached.scheduler.totals().computedTokens();
      assertThat(cached.scheduler.totals().cacheHitTokens()).isZero();
      List<RolloutTree> second = cached.sample(PARAMS);
      // Prompts of 7 and 3 tokens: all but each prompt's last token come from the cache.
      assertThat(cached.scheduler.totals().cacheHitTokens()).isEqualTo(6 + 2);
      assertThat(cached.scheduler.totals().computedTokens() - firstTokens).isEqualTo(firstTokens - 8);
      assertThat(shapes(first)).isEqualTo(expected);
      assertThat(shapes(second)).isEqualTo(expected);
      assertThat(second.get(0).weightVersion()).isEqualTo(5);
      assertThat(cached.stats().pagesInUse()).isPositive(); // what the cache holds
      assertThat(cached.stats().cacheLocks()).isZero(); // no live branch stands on it
      cached.flush();
      assertThat(cached.stats().pagesInUse()).isZero();
      assertThat(cached.stats().weightVersion()).isEqualTo(6);
      List<RolloutTree> third = cached.sample(PARAMS);
      assertThat(third.get(0).weightVersion()).isEqualTo(6);
      assertThat(cached.scheduler.totals().cacheHitTokens()).isEqualTo(6 + 2); // nothing reused after the swap
    }
  }

  /**
   * The same request under budgets from roomy down to the least the engine accepts: every run
   * finishes, every answer matches its path rescored alone, and every page comes back; a page
   * less is refused up front, naming the sizes.
   */
  @Test
  void everyAcceptedBudgetFinishesAndOnePageLessIsRefused() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    TreeRolloutConfig cfg = SHAPE.withPolicy("rose:per_round=2").withRepetition(RepetitionRule.OFF);
    // One answer of the longest prompt (7 tokens) and 20 response tokens: 7 pages of 4, plus one to decode into.
    int least = 8;
    for (int pages : new int[] {256, 64, 24, 12, 9, least}) {
      try (Engine e = new Engine(pages, true)) {
        List<RolloutTree> trees = e.sample(PROMPTS, cfg, params, RolloutHooks.NONE);
        for (RolloutTree t : trees) {
          assertThat(t.leaves()).as("%d pages", pages).hasSize(cfg.leafBudget());
        }
        e.assertEveryLeafMatchesRescoring(trees, params);
        assertThat(e.stats().peakPagesInUse()).isLessThanOrEqualTo(pages);
        e.flush();
        assertThat(e.stats().pagesInUse()).as("%d pages", pages).isZero();
      }
    }
    try (Engine e = new Engine(least - 1, true)) {
      assertThatThrownBy(() -> e.scheduler.rollout(PROMPTS, cfg, params, RolloutHooks.NONE))
          .isInstanceOf(TreeRollException.class)
          .hasMessage("KV budget of 7 pages is too small: one answer of 27 tokens needs 8");
    }
  }

  /**
   * Finite weights whose activations overflow (a final norm of 1e38) give non-finite logits:
   * the request fails saying so instead of sampling from NaN, and its pages come back.
   */
  @Test
  void nonFiniteLogitsFailTheRequestInsteadOfSamplingFromNan() {
    List<org.treeroll.engine.io.NamedTensor> tensors = new ArrayList<>();
    for (var t : org.treeroll.engine.model.RandomModelWriter.tensors(CFG, 21)) {
      if (t.name().equals("model.norm.weight")) {
        float[] huge = new float[t.data().length];
        Arrays.fill(huge, 1e38f);
        t = new org.treeroll.engine.io.NamedTensor(t.name(), t.shape(), huge);
      }
      tensors.add(t);
    }
    try (LlamaDecoder poisoned = LlamaDecoder.load(CFG, org.treeroll.engine.model.InMemoryWeights.of(tensors),
            DjlRuntime.device());
        KvStore kv = poisoned.newKvStore(new PagePool(64, 4));
        Scheduler s = Scheduler.start(vertx, poisoned, kv, CFG.eosTokenIds(), 64, true)) {
      assertThatThrownBy(() -> await(s.rollout(PROMPTS, SHAPE, PARAMS, RolloutHooks.NONE)))
          .isInstanceOf(TreeRollException.class).hasMessageContaining("non-finite logits for tree 0");
      assertThatThrownBy(() -> await(s.score(List.of(new int[] {1, 2, 3}), 1.0)))
          .isInstanceOf(TreeRollException.class).hasMessageContaining("non-finite logits scoring sequence 0");
      EngineStats st = await(s.stats());
      assertThat(st.liveBranches()).isZero();
      assertThat(st.cacheLocks()).isZero();
    }
  }

  @Test
  void underPressureTheCacheGivesWayBeforeBranchesDo() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    try (Engine tight = new Engine(12, true)) {
      List<RolloutTree> trees = tight.sample(params);
      for (RolloutTree t : trees) {
        assertThat(t.leaves()).hasSize(SHAPE.leafBudget());
      }
      tight.assertEveryLeafMatchesRescoring(trees, params);
      tight.flush();
      assertThat(tight.stats().pagesInUse()).isZero();
    }
  }

  @Test
  void sameSeedSameTreesDifferentSeedDifferentTrees() {
    try (Engine e = new Engine(256, true)) {
      List<String> a = shapes(e.sample(PARAMS));
      List<String> b = shapes(e.sample(PARAMS));
      List<String> c = shapes(e.sample(PARAMS.withSeed(4)));
      assertThat(b).isEqualTo(a);
      assertThat(c).isNotEqualTo(a);
    }
  }

  /** Answers "classified" by their last token, so semantic-entropy sees disagreeing answers. */
  static final class CountingHooks implements RolloutHooks {
    final List<SegmentNode> finished = new ArrayList<>();
    final int settleAfter; // response length at which an answer counts as settled; 0: never

    CountingHooks(int settleAfter) {
      this.settleAfter = settleAfter;
    }

    @Override
    public String finalAnswer(int[] response, boolean done) {
      if (done) {
        return response.length == 0 ? null : String.valueOf(response[response.length - 1] % 3);
      }
      return settleAfter > 0 && response.length >= settleAfter ? "settled" : null;
    }

    @Override
    public void leafFinished(RolloutTree tree, SegmentNode leaf) {
      finished.add(leaf);
    }
  }

  @Test
  void everyPolicyFillsTheBudgetAndKeepsParityIncludingForksInsideSegments() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    for (String policy : BranchingPolicies.names()) {
      try (Engine e = new Engine(256, true)) {
        TreeRolloutConfig cfg = new TreeRolloutConfig(5, 3, 2, 6, 2, 15).withPolicy(policy)
            .withRepetition(RepetitionRule.OFF);
        CountingHooks hooks = new CountingHooks(0);
        List<RolloutTree> trees = e.sample(PROMPTS, cfg, params, hooks);
        for (RolloutTree t : trees) {
          assertThat(t.policy()).isEqualTo(policy);
          assertThat(t.leaves()).as(policy).hasSize(6);
          for (SegmentNode leaf : t.leaves()) {
            assertThat(RolloutTree.responseTokens(leaf)).as(policy).hasSize(15);
          }
          assertThat(hooks.finished).containsAll(t.leaves());
        }
        e.assertEveryLeafMatchesRescoring(trees, params);
        long marked = trees.stream().flatMap(t -> t.nodes().stream()).filter(SegmentNode::refilled).count();
        assertThat(marked > 0).as(policy + ": answers marked as refilled").isEqualTo(e.scheduler.totals().refills() > 0);
        if (policy.equals("rose") || policy.equals("semantic-entropy")) {
          // Grown in rounds: new answers forked from finished ones, their prefixes from the cache.
          assertThat(e.scheduler.totals().refills()).as(policy).isPositive();
          assertThat(e.scheduler.totals().cacheHitTokens()).as(policy).isPositive();
        }
        if (policy.equals("rose")) {
          SegmentNode any = trees.get(0).leaves().get(0);
          assertThat(any.candidatesPerToken()).isEqualTo(20);
          // Some fork started inside a segment: a node shorter than a segment with two children.
          assertThat(trees.stream().flatMap(t -> t.nodes().stream())
              .anyMatch(n -> !n.isRootNode() && n.tokenCount() < 5 && n.children().size() >= 2)).isTrue();
        }
        e.flush();
        assertThat(e.stats().pagesInUse()).as(policy).isZero();
      }
    }
  }

  /**
   * ROSE rounds of several forks land several fork points in one node. Each must keep exactly the
   * tokens the policy chose: a new answer shares the first {@code offset} tokens of the chosen
   * node's path and differs right after... or happens to draw the same token, which a fresh RNG
   * makes rare. Every answer still matches its path rescored alone.
   */
  @Test
  void roseWithSeveralForksPerRoundForksWhereItChose() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    for (int perRound : new int[] {2, 3}) {
      try (Engine e = new Engine(256, true)) {
        TreeRolloutConfig cfg = new TreeRolloutConfig(6, 3, 1, 7, 2, 18)
            .withPolicy("rose:epsilon=0,per_round=" + perRound).withRepetition(RepetitionRule.OFF);
        List<RolloutTree> trees = e.sample(PROMPTS, cfg, params, RolloutHooks.NONE);
        for (RolloutTree t : trees) {
          assertThat(t.leaves()).as("per_round=%d", perRound).hasSize(7);
          for (SegmentNode leaf : t.leaves()) {
            assertThat(RolloutTree.responseTokens(leaf)).hasSize(18);
          }
          // Distinct answers: forks made at the chosen token never duplicate a path.
          assertThat(t.leaves().stream().map(l -> Arrays.toString(RolloutTree.responseTokens(l))).distinct())
              .hasSize(7);
        }
        e.assertEveryLeafMatchesRescoring(trees, params);
        assertThat(e.scheduler.totals().refills()).isGreaterThanOrEqualTo(6L * trees.size() / perRound);
        // Every refilled answer resumed from its whole cached path but the last token.
        assertThat(e.scheduler.totals().cacheHitTokens()).isPositive();
      }
    }
  }

  @Test
  void loopsAndSettledAnswersEndEarly() {
    try (Engine e = new Engine(256, true)) {
      // Greedy decoding of a random model falls into a loop quickly.
      SamplingParams greedy = PARAMS.withIgnoreEos(true).withTemperature(0);
      RepetitionRule rule = new RepetitionRule(4, 3, 6);
      TreeRolloutConfig cfg = new TreeRolloutConfig(8, 8, 2, 2, 1, 64).withRepetition(rule);
      List<RolloutTree> trees = e.sample(List.of(new int[] {5, 6, 7}, new int[] {9, 1, 4, 4}), cfg, greedy,
          RolloutHooks.NONE);
      List<SegmentNode> loops = trees.stream().flatMap(t -> t.leaves().stream())
          .filter(l -> l.finishReason() == FinishReason.REPETITION).toList();
      assertThat(loops).isNotEmpty();
      for (SegmentNode l : loops) {
        int[] r = RolloutTree.responseTokens(l);
        assertThat(r.length).isLessThan(64);
        assertThat(rule.endsInLoop(it.unimi.dsi.fastutil.ints.IntArrayList.wrap(r))).isTrue();
        // It ended at the first token that closed the loop, not later.
        assertThat(rule.endsInLoop(it.unimi.dsi.fastutil.ints.IntArrayList.wrap(Arrays.copyOf(r, r.length - 1))))
            .isFalse();
      }
      // An answer whose outcome is settled after 7 tokens stops at the next boundary (token 10).
      CountingHooks settle = new CountingHooks(7);
      TreeRolloutConfig shape = new TreeRolloutConfig(5, 4, 2, 4, 2, 20).withRepetition(RepetitionRule.OFF);
      List<RolloutTree> settled = e.sample(List.of(new int[] {5, 6, 7}), shape, PARAMS.withIgnoreEos(true), settle);
      assertThat(settled.get(0).leaves()).hasSize(4).allSatisfy(l -> {
        assertThat(l.finishReason()).isEqualTo(FinishReason.ANSWERED);
        assertThat(RolloutTree.responseTokens(l)).hasSize(10);
      });
      assertThat(settle.finished).hasSize(4);
    }
  }

  @Test
  void concurrentRequestsShareForwardStepsAndGetTheTreesTheyWouldGetAlone() {
    List<int[]> a = List.of(new int[] {5, 6, 7, 8, 9, 10, 11});
    List<int[]> b = List.of(new int[] {40, 41, 42}, new int[] {7, 7});
    SamplingParams hot = PARAMS.withTemperature(1.5);
    SamplingParams cool = PARAMS.withTemperature(0.7).withSeed(9);
    TreeRolloutConfig entropy = SHAPE.withPolicy("entropy");
    StatsHook aAloneStats = new StatsHook();
    StatsHook bAloneStats = new StatsHook();
    List<String> aAlone;
    List<String> bAlone;
    long aSteps;
    long bSteps;
    try (Engine alone = new Engine(256, false)) {
      aAlone = shapes(alone.sample(a, SHAPE, hot, aAloneStats));
      aSteps = alone.scheduler.totals().forwardSteps();
      bAlone = shapes(alone.sample(b, entropy, cool, bAloneStats));
      bSteps = alone.scheduler.totals().forwardSteps() - aSteps;
    }
    assertThat(aAloneStats.stats.forwardSteps()).isEqualTo(aSteps);
    assertThat(bAloneStats.stats.forwardSteps()).isEqualTo(bSteps);

    try (Engine shared = new Engine(256, false)) {
      StatsHook aStats = new StatsHook();
      StatsHook bStats = new StatsHook();
      var fa = shared.scheduler.rollout(a, SHAPE, hot, aStats);
      var fb = shared.scheduler.rollout(b, entropy, cool, bStats);
      List<RolloutTree> ta = await(fa);
      List<RolloutTree> tb = await(fb);
      assertThat(shapes(ta)).isEqualTo(aAlone);
      assertThat(shapes(tb)).isEqualTo(bAlone);
      // Both requests decoded in the same batched steps: fewer steps than one after the other.
      assertThat(shared.scheduler.totals().forwardSteps()).isLessThan(aSteps + bSteps);
      // Each request's own counters are what it cost alone; together they make the engine's.
      assertThat(aStats.stats.computedTokens()).isEqualTo(aAloneStats.stats.computedTokens());
      assertThat(bStats.stats.computedTokens()).isEqualTo(bAloneStats.stats.computedTokens());
      assertThat(aStats.stats.computedTokens() + bStats.stats.computedTokens())
          .isEqualTo(shared.scheduler.totals().computedTokens());
      shared.assertEveryLeafMatchesRescoring(tb, cool);
      assertThat(shared.stats().pagesInUse()).isZero();
    }
  }

  /**
   * A request whose hook throws fails alone: the request batched with it completes, every page
   * comes back, and the engine goes on serving.
   */
  @Test
  void aFailingHookFailsOnlyItsRequest() {
    try (Engine e = new Engine(256, false)) {
      RolloutHooks broken = new RolloutHooks() {
        @Override
        public void leafFinished(RolloutTree tree, SegmentNode leaf) {
          throw new IllegalStateException("trainer callback failed");
        }
      };
      var failing = e.scheduler.rollout(List.of(new int[] {1, 2, 3}), SHAPE, PARAMS, broken);
      var healthy = e.scheduler.rollout(List.of(new int[] {4, 5, 6}), SHAPE, PARAMS, RolloutHooks.NONE);
      assertThatThrownBy(() -> await(failing)).hasMessage("trainer callback failed");
      assertThat(await(healthy).get(0).leaves()).hasSize(SHAPE.leafBudget());
      assertThat(e.stats().pagesInUse()).isZero();
      assertThat(e.sample(List.of(new int[] {1, 2, 3}), SHAPE, PARAMS, RolloutHooks.NONE).get(0).leaves())
          .hasSize(SHAPE.leafBudget());
    }
  }

  /**
   * Prompts admitted together that share a long prefix compute it once: the first computes it,
   * the others wait one step and reuse it from the cache.
   */
  @Test
  void promptsAdmittedTogetherShareTheirCommonPrefix() {
    int[] system = new SplittableRandom(5).ints(48, 0, CFG.vocabSize()).toArray();
    List<int[]> prompts = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      int[] p = Arrays.copyOf(system, system.length + 3);
      p[system.length] = 1 + i;
      p[system.length + 1] = 2 + i;
      p[system.length + 2] = 3 + i;
      prompts.add(p);
    }
    TreeRolloutConfig one = TreeRolloutConfig.independent(1, 2).withRepetition(RepetitionRule.OFF);
    SamplingParams params = PARAMS.withIgnoreEos(true);
    try (Engine e = new Engine(256, true)) {
      List<RolloutTree> trees = e.sample(prompts, one, params, RolloutHooks.NONE);
      // The shared 48 tokens once, then 3 + 1 per prompt beyond it; each answer feeds 1 token.
      long prefill = e.scheduler.totals().computedTokens() - prompts.size();
      assertThat(prefill).isEqualTo(48 + prompts.size() * 3);
      assertThat(e.scheduler.totals().cacheHitTokens()).isEqualTo((prompts.size() - 1) * 48L);
      try (Engine plain = new Engine(256, false)) {
        List<RolloutTree> alone = plain.sample(prompts, one, params, RolloutHooks.NONE);
        assertThat(shapes(trees)).isEqualTo(shapes(alone)); // sharing changes no token
      }
      e.assertEveryLeafMatchesRescoring(trees, params);
    }
  }

  /** Prompts sharing only a few tokens of a page: refills still reuse every cached token of their path. */
  @Test
  void refillsReuseTheirWholePathWhenPromptsShareAPartialPage() {
    List<int[]> prompts = List.of(new int[] {9, 8, 7, 1, 2, 3}, new int[] {9, 8, 7, 4, 5}, new int[] {9, 8, 7, 6});
    TreeRolloutConfig cfg = new TreeRolloutConfig(6, 3, 1, 5, 2, 18).withPolicy("rose:epsilon=0")
        .withRepetition(RepetitionRule.OFF);
    SamplingParams params = PARAMS.withIgnoreEos(true);
    try (Engine e = new Engine(256, true)) {
      List<RolloutTree> trees = e.sample(prompts, cfg, params, RolloutHooks.NONE);
      RolloutStats s = e.scheduler.totals();
      assertThat(s.refills()).isPositive();
      // Each refill forks at offset >= 1 inside an answer: its path is the prompt and at least
      // one response token, all cached; only the fork token's predecessor runs again.
      long minHits = 0;
      for (RolloutTree t : trees) {
        minHits += (long) (t.leaves().size() - 1) * t.prompt().length;
      }
      assertThat(s.cacheHitTokens()).isGreaterThanOrEqualTo(minHits);
      e.assertEveryLeafMatchesRescoring(trees, params);
    }
  }

  @Test
  void cancellingARolloutFreesItsPagesAndLeavesOthersAlone() {
    try (Engine e = new Engine(256, true)) {
      TreeRolloutConfig longOne = new TreeRolloutConfig(8, 8, 4, 16, 2, 64);
      var doomed = e.scheduler.rollout(PROMPTS, longOne, PARAMS.withIgnoreEos(true), RolloutHooks.NONE);
      var kept = e.scheduler.rollout(List.of(new int[] {3, 4}), SHAPE, PARAMS, RolloutHooks.NONE);
      assertThat(doomed.cancel(true)).isTrue();
      assertThatThrownBy(() -> doomed.get(1, TimeUnit.MINUTES)).isInstanceOf(CancellationException.class);
      assertThat(await(kept).get(0).leaves()).isNotEmpty();
      EngineStats s = e.stats();
      assertThat(s.activeRequests()).isZero();
      assertThat(s.liveBranches()).isZero();
      assertThat(s.cacheLocks()).isZero();
      e.flush();
      assertThat(e.stats().pagesInUse()).isZero();
    }
  }

  @Test
  void generateAndScoreRunWhileRolloutsAreInFlight() {
    try (Engine e = new Engine(256, true)) {
      var tree = e.scheduler.rollout(PROMPTS, SHAPE, PARAMS, RolloutHooks.NONE);
      var gen = e.scheduler.generate(PROMPTS, PARAMS.withMaxTokens(6));
      var score = e.scheduler.score(List.of(new int[] {1, 2, 3, 4}), 1.0);
      assertThat(await(gen)).hasSize(2).allSatisfy(c -> {
        assertThat(c.tokens().length).isBetween(1, 6);
        assertThat(c.logProbs()).hasSize(c.tokens().length);
        assertThat(c.entropies()).hasSize(c.tokens().length);
      });
      assertThat(await(score).get(0).logProbs()).hasSize(3);
      assertThat(await(tree)).hasSize(2);
    }
  }

  @Test
  void aWaitingWeightSwapHoldsNewRequestsAndAnAbortingOneFailsThoseInFlight() {
    try (Engine e = new Engine(256, true)) {
      TreeRolloutConfig longOne = new TreeRolloutConfig(8, 8, 2, 8, 2, 64);
      var before = e.scheduler.rollout(PROMPTS, longOne, PARAMS.withIgnoreEos(true), RolloutHooks.NONE);
      var swap = e.scheduler.swapWeights(() -> {}, WeightSwapPolicy.waitForRequests());
      var after = e.scheduler.rollout(PROMPTS, SHAPE, PARAMS, RolloutHooks.NONE);
      assertThat(await(before)).allMatch(t -> t.weightVersion() == 0);
      assertThat(await(swap)).isEqualTo(1L);
      assertThat(await(after)).allMatch(t -> t.weightVersion() == 1);

      var aborted = e.scheduler.rollout(PROMPTS, longOne, PARAMS.withIgnoreEos(true), RolloutHooks.NONE);
      await(e.scheduler.stats()); // admitted
      assertThat(await(e.scheduler.swapWeights(() -> {}, WeightSwapPolicy.abortRequests()))).isEqualTo(2L);
      assertThatThrownBy(() -> await(aborted)).isInstanceOf(TreeRollException.class)
          .hasMessageContaining("version 2");
      assertThat(e.stats().pagesInUse()).isZero(); // aborted work freed, cache flushed

      var slow = e.scheduler.rollout(PROMPTS, longOne, PARAMS.withIgnoreEos(true), RolloutHooks.NONE);
      var late = e.scheduler.swapWeights(() -> {}, WeightSwapPolicy.waitForRequests().withTimeout(Duration.ofMillis(1)));
      assertThatThrownBy(() -> await(late)).hasMessageContaining("timed out");
      assertThat(await(slow)).allMatch(t -> t.weightVersion() == 2);
      assertThat(e.stats().weightVersion()).isEqualTo(2);
      assertThatThrownBy(() -> await(e.scheduler.swapWeights(() -> {}, WeightSwapPolicy.waitForRequests().withVersion(2))))
          .hasMessageContaining("must be greater than 2");
    }
  }

  @Test
  void pagesRefuseEveryThreadButTheSchedulers() {
    try (Engine e = new Engine(16, true)) {
      assertThatThrownBy(() -> e.kv.pool().allocate()).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("owned by thread");
    }
  }

  @Test
  void badRequestsAreRefusedAtOnceNamingTheProblem() {
    try (Engine e = new Engine(16, true)) {
      assertThatThrownBy(() -> e.scheduler.rollout(List.of(new int[0]), SHAPE, PARAMS, RolloutHooks.NONE))
          .isInstanceOf(TreeRollException.class).hasMessage("prompt 0 is empty");
      assertThatThrownBy(() -> e.scheduler.generate(List.of(new int[] {1, CFG.vocabSize()}), PARAMS))
          .hasMessageContaining("prompt 0: token 1 is " + CFG.vocabSize() + ", outside the vocabulary");
      assertThatThrownBy(() -> e.scheduler.score(List.of(new int[] {1}), 1.0))
          .hasMessageContaining("sequence 0 needs at least 2 tokens");
      assertThatThrownBy(() -> e.scheduler.rollout(PROMPTS, new TreeRolloutConfig(5, 4, 2, 8, 2, 200), PARAMS,
          RolloutHooks.NONE)).hasMessageContaining("KV budget of 16 pages is too small");
    }
  }

  /** Keeps the per-request counters a rollout reports when it completes. */
  private static final class StatsHook implements RolloutHooks {
    RolloutStats stats;

    @Override
    public void rolloutFinished(RolloutStats s) {
      stats = s;
    }
  }

  static List<String> shapes(List<RolloutTree> trees) {
    List<String> out = new ArrayList<>();
    for (RolloutTree t : trees) {
      for (SegmentNode n : t.nodes()) {
        out.add(t.id() + "/" + n.id() + "<" + (n.parent() == null ? -1 : n.parent().id()) + ":"
            + Arrays.toString(n.tokens()) + n.finishReason());
      }
    }
    return out;
  }
}
