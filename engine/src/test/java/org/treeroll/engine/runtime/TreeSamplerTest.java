package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.treeroll.branching.BranchingPolicies;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.TinyModels;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.RadixKvCache;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

class TreeSamplerTest {
  static final ModelConfig CFG = ModelPreset.TINY_QWEN2.config();
  static LlamaDecoder model;
  static KvStore kv;

  // Segments of 5 tokens over pages of 4: forks fall inside pages, so partial pages get copied.
  static final TreeRolloutConfig SHAPE = new TreeRolloutConfig(5, 4, 2, 8, 2, 20);
  static final SamplingParams PARAMS = SamplingParams.defaults().withSeed(3).withTemperature(1.2);

  @BeforeAll
  static void load() {
    model = LlamaDecoder.load(CFG, TinyModels.weights(CFG, 21), DjlRuntime.device());
    kv = model.newKvStore(new PagePool(256, 4));
  }

  @AfterAll
  static void close() {
    kv.close();
    model.close();
  }

  private List<RolloutTree> sample(SamplingParams params, TreeSampler sampler) {
    List<int[]> prompts = List.of(new int[] {5, 6, 7, 8, 9, 10, 11}, new int[] {40, 41, 42});
    return sampler.sample(prompts, SHAPE, params, RolloutHooks.NONE);
  }

  @Test
  void everyLeafsLogProbsEqualRescoringItsPathAlone() {
    int arraysBefore = model.liveArrays();
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    List<RolloutTree> trees = sample(PARAMS, sampler);
    assertThat(kv.pool().pagesInUse()).isZero();
    assertThat(model.liveArrays()).isEqualTo(arraysBefore);

    Scorer scorer = new Scorer(model, kv, 64);
    int leaves = 0;
    for (RolloutTree tree : trees) {
      for (SegmentNode leaf : tree.leaves()) {
        assertLeafMatchesRescoring(scorer, tree, leaf, PARAMS);
        leaves++;
      }
    }
    assertThat(leaves).isGreaterThan(4);
  }

  @Test
  void sharedTokensAreComputedOnceAndTheBudgetIsFilled() {
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    List<RolloutTree> trees = sample(PARAMS.withIgnoreEos(true), sampler);
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
    assertThat(sampler.stats().computedTokens()).isEqualTo(expected);
  }

  @Test
  void independentModeSharesOnlyThePrompt() {
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    int[] prompt = {5, 6, 7, 8, 9, 10, 11};
    RolloutTree t = sampler.sample(List.of(prompt), TreeRolloutConfig.independent(4, 12),
        PARAMS.withIgnoreEos(true), RolloutHooks.NONE).get(0);
    assertThat(t.leaves()).hasSize(4);
    assertThat(t.leaves()).allMatch(l -> l.parent() == t.root() && l.tokenCount() == 12);
    // The prompt once, then 11 fed tokens per answer (its last is only sampled).
    assertThat(sampler.stats().computedTokens()).isEqualTo(prompt.length + 4 * 11);
    assertThat(t.distinctTokens()).isEqualTo(t.independentTokens());
    assertThat(kv.pool().pagesInUse()).isZero();
  }

  @Test
  void lateForksShareLongPrefixes() {
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    // One path for three segments, then doubling: 1, 1, 1, 2 paths; then 4 leaves.
    TreeRolloutConfig shape = new TreeRolloutConfig(5, 4, 1, 4, 2, 20).withPolicy("fixed:depths=2/3");
    RolloutTree t = sampler.sample(List.of(new int[] {1, 2, 3}), shape, PARAMS.withIgnoreEos(true),
        RolloutHooks.NONE).get(0);
    assertThat(t.leaves()).hasSize(4);
    // Segments decoded: 1 + 1 + 2 + 4 = 8 of 5 tokens, against 16 for four independent answers.
    assertThat(t.distinctTokens() - 3).isEqualTo(8 * 5);
    assertThat(t.independentTokens() - 3).isEqualTo(16 * 5);
  }

  /**
   * With a tenth of the pages the trees need, branches give up their pages and recompute them
   * later: every tree still completes, and every leaf still matches its path rescored alone.
   */
  @Test
  void aBudgetTenTimesTooSmallStillGivesCorrectTrees() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    TreeSampler roomy = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    List<RolloutTree> expected = sample(params, roomy);
    int peak = kv.pool().peakPagesInUse();

    int pages = Math.max(peak / 10, 8); // 8 = what one answer of 7 + 20 tokens needs, plus one
    try (KvStore small = model.newKvStore(new PagePool(pages, 4))) {
      TreeSampler tight = new TreeSampler(model, small, CFG.eosTokenIds(), 64);
      List<RolloutTree> trees = sample(params, tight);
      assertThat(tight.stats().suspensions()).isPositive();
      assertThat(small.pool().peakPagesInUse()).isLessThanOrEqualTo(pages);
      assertThat(small.pool().pagesInUse()).isZero();
      assertThat(tight.stats().computedTokens()).isGreaterThan(roomy.stats().computedTokens()); // recomputation
      Scorer scorer = new Scorer(model, kv, 64);
      for (int i = 0; i < trees.size(); i++) {
        assertThat(trees.get(i).leaves()).hasSize(expected.get(i).leaves().size());
        for (SegmentNode leaf : trees.get(i).leaves()) {
          assertLeafMatchesRescoring(scorer, trees.get(i), leaf, params);
        }
      }
    }
    assertThat(peak).isGreaterThan(20);
  }

  private static void assertLeafMatchesRescoring(Scorer scorer, RolloutTree tree, SegmentNode leaf,
      SamplingParams params) {
    int[] prompt = tree.prompt();
    int[] response = RolloutTree.responseTokens(leaf);
    int[] whole = Arrays.copyOf(prompt, prompt.length + response.length);
    System.arraycopy(response, 0, whole, prompt.length, response.length);
    float[] rescored = scorer.score(List.of(whole), params.logprobTemperature()).get(0).logProbs();
    float[] recorded = RolloutTree.responseLogProbs(leaf);
    for (int t = 0; t < recorded.length; t++) {
      assertThat((double) recorded[t]).as("tree %d leaf %d token %d", tree.id(), leaf.id(), t)
          .isCloseTo(rescored[prompt.length - 1 + t], org.assertj.core.data.Offset.offset(1e-4));
    }
  }

  @Test
  void promptsAreReusedAcrossRequestsUntilTheWeightsChange() {
    try (KvStore store = model.newKvStore(new PagePool(256, 4))) {
      RadixKvCache cache = new RadixKvCache(store.pool(), 5);
      TreeSampler plain = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
      TreeSampler cached = new TreeSampler(model, store, CFG.eosTokenIds(), 64, cache);
      List<String> expected = shapes(sample(PARAMS, plain));
      List<RolloutTree> first = sample(PARAMS, cached);
      long firstTokens = cached.stats().computedTokens();
      assertThat(cached.stats().cacheHitTokens()).isZero();
      List<RolloutTree> second = sample(PARAMS, cached);
      // Prompts of 7 and 3 tokens: all but each prompt's last token come from the cache.
      assertThat(cached.stats().cacheHitTokens()).isEqualTo(6 + 2);
      assertThat(cached.stats().computedTokens() - firstTokens).isEqualTo(firstTokens - 8);
      assertThat(shapes(first)).isEqualTo(expected);
      assertThat(shapes(second)).isEqualTo(expected);
      assertThat(second.get(0).weightVersion()).isEqualTo(5);
      assertThat(store.pool().pagesInUse()).isPositive(); // what the cache holds
      cache.setWeightVersion(6);
      assertThat(store.pool().pagesInUse()).isZero();
    }
  }

  @Test
  void underPressureTheCacheGivesWayBeforeBranchesDo() {
    SamplingParams params = PARAMS.withIgnoreEos(true);
    try (KvStore small = model.newKvStore(new PagePool(12, 4))) {
      RadixKvCache cache = new RadixKvCache(small.pool(), 0);
      TreeSampler tight = new TreeSampler(model, small, CFG.eosTokenIds(), 64, cache);
      List<RolloutTree> trees = sample(params, tight);
      assertThat(cache.stats().evictedNodes()).isPositive();
      Scorer scorer = new Scorer(model, kv, 64);
      for (RolloutTree t : trees) {
        assertThat(t.leaves()).hasSize(SHAPE.leafBudget());
        for (SegmentNode leaf : t.leaves()) {
          assertLeafMatchesRescoring(scorer, t, leaf, params);
        }
      }
      cache.setWeightVersion(1);
      assertThat(small.pool().pagesInUse()).isZero();
    }
  }

  @Test
  void sameSeedSameTreesDifferentSeedDifferentTrees() {
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    List<String> a = shapes(sample(PARAMS, sampler));
    List<String> b = shapes(sample(PARAMS, sampler));
    List<String> c = shapes(sample(PARAMS.withSeed(4), sampler));
    assertThat(b).isEqualTo(a);
    assertThat(c).isNotEqualTo(a);
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
    Scorer scorer = new Scorer(model, kv, 64);
    for (String policy : BranchingPolicies.names()) {
      try (KvStore store = model.newKvStore(new PagePool(256, 4))) {
        RadixKvCache cache = new RadixKvCache(store.pool(), 0);
        TreeSampler sampler = new TreeSampler(model, store, CFG.eosTokenIds(), 64, cache);
        TreeRolloutConfig cfg = new TreeRolloutConfig(5, 3, 2, 6, 2, 15).withPolicy(policy)
            .withRepetition(RepetitionRule.OFF);
        CountingHooks hooks = new CountingHooks(0);
        List<RolloutTree> trees = sampler.sample(List.of(new int[] {5, 6, 7, 8, 9, 10, 11}, new int[] {40, 41, 42}),
            cfg, params, hooks);
        for (RolloutTree t : trees) {
          assertThat(t.policy()).isEqualTo(policy);
          assertThat(t.leaves()).as(policy).hasSize(6);
          for (SegmentNode leaf : t.leaves()) {
            assertThat(RolloutTree.responseTokens(leaf)).as(policy).hasSize(15);
            assertLeafMatchesRescoring(scorer, t, leaf, params);
          }
          assertThat(hooks.finished).containsAll(t.leaves());
        }
        if (policy.equals("rose") || policy.equals("semantic-entropy")) {
          // Grown in rounds: new answers forked from finished ones, their prefixes from the cache.
          assertThat(sampler.stats().refills()).as(policy).isPositive();
          assertThat(sampler.stats().cacheHitTokens()).as(policy).isPositive();
        }
        if (policy.equals("rose")) {
          SegmentNode any = trees.get(0).leaves().get(0);
          assertThat(any.candidatesPerToken()).isEqualTo(20);
          // Some fork started inside a segment: a node shorter than a segment with two children.
          assertThat(trees.stream().flatMap(t -> t.nodes().stream())
              .anyMatch(n -> !n.isRootNode() && n.tokenCount() < 5 && n.children().size() >= 2)).isTrue();
        }
        cache.setWeightVersion(1);
        assertThat(store.pool().pagesInUse()).as(policy).isZero();
      }
    }
  }

  @Test
  void loopsAndSettledAnswersEndEarly() {
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    // Greedy decoding of a random model falls into a loop quickly.
    SamplingParams greedy = PARAMS.withIgnoreEos(true).withTemperature(0);
    RepetitionRule rule = new RepetitionRule(4, 3, 6);
    TreeRolloutConfig cfg = new TreeRolloutConfig(8, 8, 2, 2, 1, 64).withRepetition(rule);
    List<RolloutTree> trees = sampler.sample(List.of(new int[] {5, 6, 7}, new int[] {9, 1, 4, 4}), cfg, greedy,
        RolloutHooks.NONE);
    List<SegmentNode> loops = trees.stream().flatMap(t -> t.leaves().stream())
        .filter(l -> l.finishReason() == FinishReason.REPETITION).toList();
    assertThat(loops).isNotEmpty();
    for (SegmentNode l : loops) {
      int[] r = RolloutTree.responseTokens(l);
      assertThat(r.length).isLessThan(64);
      assertThat(rule.endsInLoop(it.unimi.dsi.fastutil.ints.IntArrayList.wrap(r))).isTrue();
      // It ended at the first token that closed the loop, not later.
      assertThat(rule.endsInLoop(it.unimi.dsi.fastutil.ints.IntArrayList.wrap(Arrays.copyOf(r, r.length - 1)))).isFalse();
    }
    // An answer whose outcome is settled after 7 tokens stops at the next boundary (token 10).
    CountingHooks settle = new CountingHooks(7);
    TreeRolloutConfig shape = new TreeRolloutConfig(5, 4, 2, 4, 2, 20).withRepetition(RepetitionRule.OFF);
    List<RolloutTree> settled = sampler.sample(List.of(new int[] {5, 6, 7}), shape, PARAMS.withIgnoreEos(true), settle);
    assertThat(settled.get(0).leaves()).hasSize(4).allSatisfy(l -> {
      assertThat(l.finishReason()).isEqualTo(FinishReason.ANSWERED);
      assertThat(RolloutTree.responseTokens(l)).hasSize(10);
    });
    assertThat(settle.finished).hasSize(4);
  }

  @Test
  void concurrentRequestsShareForwardStepsAndGetTheTreesTheyWouldGetAlone() throws Exception {
    List<int[]> a = List.of(new int[] {5, 6, 7, 8, 9, 10, 11});
    List<int[]> b = List.of(new int[] {40, 41, 42}, new int[] {7, 7});
    SamplingParams hot = PARAMS.withTemperature(1.5);
    SamplingParams cool = PARAMS.withTemperature(0.7).withSeed(9);
    TreeRolloutConfig entropy = SHAPE.withPolicy("entropy");
    TreeSampler alone = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    StatsHook aAloneStats = new StatsHook();
    StatsHook bAloneStats = new StatsHook();
    List<String> aAlone = shapes(alone.sample(a, SHAPE, hot, aAloneStats));
    long aSteps = alone.stats().forwardSteps();
    List<String> bAlone = shapes(alone.sample(b, entropy, cool, bAloneStats));
    long bSteps = alone.stats().forwardSteps() - aSteps;
    assertThat(aAloneStats.stats.forwardSteps()).isEqualTo(aSteps);
    assertThat(bAloneStats.stats.forwardSteps()).isEqualTo(bSteps);

    TreeSampler shared = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    StatsHook aStats = new StatsHook();
    StatsHook bStats = new StatsHook();
    var fa = shared.submit(a, SHAPE, hot, aStats);
    var fb = shared.submit(b, entropy, cool, bStats);
    List<RolloutTree> ta = fa.get();
    List<RolloutTree> tb = fb.get();
    assertThat(shapes(ta)).isEqualTo(aAlone);
    assertThat(shapes(tb)).isEqualTo(bAlone);
    // Both requests decoded in the same batched steps: fewer steps than one after the other.
    assertThat(shared.stats().forwardSteps()).isLessThan(aSteps + bSteps);
    // Each request's own counters are what it cost alone; together they make the sampler's.
    assertThat(aStats.stats.computedTokens()).isEqualTo(aAloneStats.stats.computedTokens());
    assertThat(bStats.stats.computedTokens()).isEqualTo(bAloneStats.stats.computedTokens());
    assertThat(aStats.stats.computedTokens() + bStats.stats.computedTokens())
        .isEqualTo(shared.stats().computedTokens());
    Scorer scorer = new Scorer(model, kv, 64);
    for (SegmentNode leaf : tb.get(0).leaves()) {
      assertLeafMatchesRescoring(scorer, tb.get(0), leaf, cool);
    }
    assertThat(kv.pool().pagesInUse()).isZero();
  }

  /**
   * A request whose hook throws fails alone: the request batched with it completes, every page
   * comes back, and the sampler goes on serving.
   */
  @Test
  void aFailingHookFailsOnlyItsRequest() throws Exception {
    TreeSampler sampler = new TreeSampler(model, kv, CFG.eosTokenIds(), 64);
    RolloutHooks broken = new RolloutHooks() {
      @Override
      public void leafFinished(RolloutTree tree, SegmentNode leaf) {
        throw new IllegalStateException("trainer callback failed");
      }
    };
    var failing = sampler.submit(List.of(new int[] {1, 2, 3}), SHAPE, PARAMS, broken);
    var healthy = sampler.submit(List.of(new int[] {4, 5, 6}), SHAPE, PARAMS, RolloutHooks.NONE);
    org.assertj.core.api.Assertions.assertThatThrownBy(failing::join)
        .hasRootCauseMessage("trainer callback failed");
    assertThat(healthy.get().get(0).leaves()).hasSize(SHAPE.leafBudget());
    assertThat(kv.pool().pagesInUse()).isZero();
    assertThat(sampler.sample(List.of(new int[] {1, 2, 3}), SHAPE, PARAMS, RolloutHooks.NONE).get(0).leaves())
        .hasSize(SHAPE.leafBudget());
  }

  /** Keeps the per-request counters a rollout reports when it completes. */
  private static final class StatsHook implements RolloutHooks {
    TreeSampler.Stats stats;

    @Override
    public void rolloutFinished(TreeSampler.Stats s) {
      stats = s;
    }
  }

  private static List<String> shapes(List<RolloutTree> trees) {
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
