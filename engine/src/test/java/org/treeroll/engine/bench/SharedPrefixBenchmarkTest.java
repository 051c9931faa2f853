package org.treeroll.engine.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.bench.SharedPrefixBenchmark.Result;
import org.treeroll.engine.bench.SharedPrefixBenchmark.Submission;
import org.treeroll.engine.bench.SharedPrefixBenchmark.Workload;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/** The shared-prefix benchmark's counts add up; no speeds are checked. */
class SharedPrefixBenchmarkTest {
  static final long KV_BYTES = 16L << 20;
  @TempDir static Path tmp;
  static LoadedModel model;

  @BeforeAll
  static void load() {
    Path dir = tmp.resolve("tiny-qwen3");
    RandomModelWriter.write(dir, ModelPreset.TINY_QWEN3, 4, DType.F32, tmp);
    model = LoadedModel.open(dir);
  }

  @AfterAll
  static void close() {
    model.close();
  }

  @Test
  void everyPromptTokenIsComputedOrReusedAndEveryRequestGetsItsAnswer() {
    Workload w = new Workload(6, 40, 3, 9, 4, 5);
    List<int[]> prompts = SharedPrefixBenchmark.prompts(w, SharedPrefixBenchmark.ordinaryIds(model));
    List<Result> results = SharedPrefixBenchmark.run(model, KV_BYTES, w);
    assertThat(results).extracting(Result::submission).containsExactly(Submission.values());
    for (Result r : results) {
      assertThat(r.promptTokens()).isEqualTo(prompts.stream().mapToLong(p -> p.length).sum());
      // Fails if decode tokens were told from prefill wrongly, or if sharing went uncounted.
      assertThat(r.prefillTokens() + r.cacheHitTokens()).as(r.submission().name()).isEqualTo(r.promptTokens());
      assertThat(r.prefillTokens()).isGreaterThanOrEqualTo(r.distinctPrefixTokens());
      assertThat(r.trees()).hasSize(w.requests());
      for (int i = 0; i < w.requests(); i++) {
        RolloutTree t = r.trees().get(i);
        assertThat(t.root().tokens()).as("request %d's tree", i).isEqualTo(prompts.get(i));
        assertThat(t.leaves()).hasSize(1);
        SegmentNode answer = t.leaves().get(0);
        assertThat(RolloutTree.responseTokens(answer).length).isBetween(1, w.maxTokens());
      }
    }
    // Callers admitted in one step share as the single call does; one admitted a turn later finds
    // the prefix cached, and may also find an earlier request's answer tokens that match its
    // prompt (a clean-clone CI run computed 78 prompt tokens against the single call's 79).
    // Never less sharing than the single call.
    assertThat(results.get(1).prefillTokens()).isLessThanOrEqualTo(results.get(0).prefillTokens());
  }

  @Test
  void withOneTokenAnswersNothingIsDecodedAndComputedIsPrefill() {
    Workload w = new Workload(5, 20, 2, 4, 1, 9);
    for (Result r : SharedPrefixBenchmark.run(model, KV_BYTES, w)) {
      assertThat(r.decodeTokens()).isZero();
      assertThat(r.prefillTokens() + r.cacheHitTokens()).isEqualTo(r.promptTokens());
    }
  }

  @Test
  void promptsShareTheSystemPartThenDiffer() {
    Workload w = new Workload(12, 30, 1, 5, 8, 2);
    int[] ordinary = SharedPrefixBenchmark.ordinaryIds(model);
    List<int[]> prompts = SharedPrefixBenchmark.prompts(w, ordinary);
    assertThat(ordinary).doesNotContain(model.eosIds()).doesNotContain(model.tokenizer().addedTokenIds());
    assertThat(prompts).hasSize(12);
    int[] system = Arrays.copyOf(prompts.get(0), 30);
    for (int[] p : prompts) {
      assertThat(p.length).isBetween(31, 35);
      assertThat(Arrays.copyOf(p, 30)).isEqualTo(system);
      assertThat(Arrays.stream(p)).allMatch(id -> Arrays.binarySearch(ordinary, id) >= 0);
    }
    assertThat(prompts.stream().map(Arrays::toString).distinct()).hasSize(12);
    assertThat(SharedPrefixBenchmark.prompts(w, ordinary)).containsExactlyElementsOf(prompts);
  }

  @Test
  void distinctPrefixTokensCountThePromptTrie() {
    List<int[]> prompts = List.of(new int[] {1, 2, 3, 4}, new int[] {1, 2, 5}, new int[] {1, 2, 3, 6}, new int[] {7});
    // 1, 2, 3, 4 + 5 + 6 + 7
    assertThat(SharedPrefixBenchmark.distinctPrefixTokens(prompts)).isEqualTo(7);
  }
}
