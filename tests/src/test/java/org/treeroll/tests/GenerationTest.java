package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.tree.FinishReason;

/** Generation end to end on a model directory written to disk and loaded like any checkpoint. */
class GenerationTest {
  @TempDir static Path tmp;
  static LoadedModel model;
  static InferenceSession session;

  @BeforeAll
  static void load() {
    Path dir = tmp.resolve("tiny-qwen3");
    RandomModelWriter.write(dir, ModelPreset.TINY_QWEN3, 3, DType.BF16, tmp);
    model = LoadedModel.open(dir);
    session = new InferenceSession(null, model, 8L << 20, 4, 64);
  }

  @AfterAll
  static void close() {
    session.close();
    model.close();
  }

  @Test
  void sampledLogProbsEqualTeacherForcedRescoring() {
    List<int[]> prompts = prompts("Q: 1 + 2 = ?\nA:", "Hello", "x");
    SamplingParams p = SamplingParams.defaults().withMaxTokens(20).withSeed(5).withTemperature(0.8);
    List<Completion> out = session.generate(prompts, p).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    List<int[]> full = new ArrayList<>();
    for (int i = 0; i < out.size(); i++) {
      full.add(concat(prompts.get(i), out.get(i).tokens()));
    }
    List<TokenScores> scores = session.score(full, 0.8).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    for (int i = 0; i < out.size(); i++) {
      Completion c = out.get(i);
      int offset = prompts.get(i).length - 1;
      for (int t = 0; t < c.tokens().length; t++) {
        assertThat((double) c.logProbs()[t])
            .isCloseTo(scores.get(i).logProbs()[offset + t], org.assertj.core.data.Offset.offset(1e-4));
        assertThat((double) c.entropies()[t])
            .isCloseTo(scores.get(i).entropies()[offset + t], org.assertj.core.data.Offset.offset(1e-4));
      }
    }
    var stats = session.stats().orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    assertThat(stats.liveBranches()).isZero();
    assertThat(stats.cacheLocks()).isZero(); // nothing holds pages but the prefix cache
  }

  @Test
  void sameSeedSameTokensWhateverTheBatch() {
    SamplingParams p = SamplingParams.defaults().withMaxTokens(16).withSeed(11).withIgnoreEos(true);
    List<int[]> prompts = prompts("abc", "a longer prompt here", "q");
    List<Completion> batched = session.generate(prompts, p).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    List<Completion> again = session.generate(prompts, p).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    for (int i = 0; i < prompts.size(); i++) {
      assertThat(again.get(i).tokens()).isEqualTo(batched.get(i).tokens());
    }
    // Sequence 0 alone (same index, so same RNG stream) draws the same tokens.
    List<Completion> alone = session.generate(prompts.subList(0, 1), p).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    assertThat(alone.get(0).tokens()).isEqualTo(batched.get(0).tokens());
    // A different seed changes the draws.
    List<Completion> other = session.generate(prompts, p.withSeed(12)).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    assertThat(other.get(1).tokens()).isNotEqualTo(batched.get(1).tokens());
  }

  @Test
  void stopTokensAndMaxTokensEndResponses() {
    SamplingParams greedy = SamplingParams.defaults().withTemperature(0).withMaxTokens(12).withIgnoreEos(true);
    int[] prompt = prompts("stop here").get(0);
    Completion free = session.generate(List.of(prompt), greedy).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
    assertThat(free.tokens()).hasSize(12);
    assertThat(free.finishReason()).isEqualTo(FinishReason.MAX_TOKENS);
    // Make the greedy path's 4th token a stop token: the response ends right there, stop included.
    int stop = free.tokens()[3];
    int firstAt = Arrays.stream(free.tokens()).boxed().toList().indexOf(stop);
    Completion stopped = session.generate(List.of(prompt), greedy.withStopTokenIds(stop)).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
    assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP_TOKEN);
    assertThat(stopped.tokens()).containsExactly(Arrays.copyOf(free.tokens(), firstAt + 1));
  }

  @Test
  void topCandidatesAreSortedAndIncludeGreedyChoice() {
    SamplingParams p = SamplingParams.defaults().withTemperature(0).withMaxTokens(4).withLogprobs(5);
    Completion c = session.generate(prompts("candidates"), p).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
    assertThat(c.candidates()).hasSize(c.tokens().length);
    for (int t = 0; t < c.tokens().length; t++) {
      var cand = c.candidates().get(t);
      assertThat(cand.topIds()[0]).isEqualTo(c.tokens()[t]);
      for (int k = 1; k < cand.topLogProbs().length; k++) {
        assertThat(cand.topLogProbs()[k]).isLessThanOrEqualTo(cand.topLogProbs()[k - 1]);
      }
    }
  }

  @Test
  void rolloutsReusePromptsAcrossRequests() {
    var cfg = new org.treeroll.branching.TreeRolloutConfig(4, 3, 2, 4, 2, 12);
    var hooks = org.treeroll.engine.runtime.RolloutHooks.NONE;
    List<int[]> prompts = prompts("The same system prompt, then a question");
    SamplingParams p = SamplingParams.defaults().withSeed(1);
    var first = session.rollout(prompts, cfg, p, hooks).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    long hitsBefore = session.rolloutStats().cacheHitTokens();
    var second = session.rollout(prompts, cfg, p, hooks).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    assertThat(session.rolloutStats().cacheHitTokens() - hitsBefore).isGreaterThanOrEqualTo(prompts.get(0).length - 1);
    assertThat(RolloutTreeShape.of(second.get(0))).isEqualTo(RolloutTreeShape.of(first.get(0)));
  }

  @Test
  void rolloutsFromTwoThreadsAndScoringInFlightAllComplete() throws Exception {
    var cfg = new org.treeroll.branching.TreeRolloutConfig(4, 3, 2, 4, 2, 12);
    List<int[]> scored = prompts("xy z and some more");
    float[] alone = session.score(scored, 1.0).get(1, java.util.concurrent.TimeUnit.MINUTES).get(0).logProbs();
    var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      var first = pool.submit(() -> session.rollout(prompts("one"), cfg, SamplingParams.defaults().withSeed(1),
          org.treeroll.engine.runtime.RolloutHooks.NONE).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join());
      var second = pool.submit(() -> session.rollout(prompts("two", "three"), cfg, SamplingParams.defaults().withSeed(2),
          org.treeroll.engine.runtime.RolloutHooks.NONE).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join());
      var score = session.score(scored, 1.0);
      assertThat(first.get(1, java.util.concurrent.TimeUnit.MINUTES).get(0).leaves()).hasSize(4);
      assertThat(second.get(1, java.util.concurrent.TimeUnit.MINUTES)).hasSize(2);
      // Scored between rollout steps, it is what it is alone.
      assertThat(score.get(1, java.util.concurrent.TimeUnit.MINUTES).get(0).logProbs()).containsExactly(alone);
    } finally {
      pool.shutdownNow();
    }
  }

  /** Token ids of every node, in creation order. */
  private record RolloutTreeShape(List<List<Integer>> nodes) {
    static RolloutTreeShape of(org.treeroll.tree.RolloutTree t) {
      return new RolloutTreeShape(t.nodes().stream()
          .map(n -> Arrays.stream(n.tokens()).boxed().toList()).toList());
    }
  }

  private static List<int[]> prompts(String... texts) {
    List<int[]> out = new ArrayList<>();
    for (String t : texts) {
      out.add(model.tokenizer().encode(t));
    }
    return out;
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
