package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ReferenceDecoder;
import org.treeroll.engine.model.TinyModels;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;

/**
 * The DJL decoder against the plain-Java reference forward, and its KV paths against each
 * other: prefill vs token-by-token decode, a ragged batch vs each sequence alone.
 */
class LlamaDecoderTest {
  private static final double TOLERANCE = 1e-4;

  /** Which implementation runs the forward steps (see {@link JavaForward}). */
  enum Path {
    PYTORCH(0),
    /** The default where the JDK has the Vector API. */
    VECTOR(Integer.MAX_VALUE),
    /** Prompts on PyTorch, single tokens in Java: sequences switch paths between steps. */
    MIXED(1);

    final int javaMaxTokens;

    Path(int javaMaxTokens) {
      this.javaMaxTokens = javaMaxTokens;
    }
  }

  static Stream<Arguments> configs() {
    return TinyModels.allArchitectures().stream()
        .flatMap(cfg -> Stream.of(Path.values()).map(p -> Arguments.of(cfg, p)));
  }

  static LlamaDecoder load(ModelConfig cfg, org.treeroll.engine.io.WeightSource weights, Path path) {
    return load(cfg, weights, path, WeightPrecision.AS_STORED);
  }

  static LlamaDecoder load(ModelConfig cfg, org.treeroll.engine.io.WeightSource weights, Path path,
      WeightPrecision precision) {
    // PyTorch alone runs on the layout PyTorch gets where the Java path cannot run.
    LlamaDecoder model = LlamaDecoder.load(cfg, weights, DjlRuntime.device(), path == Path.PYTORCH, precision);
    if (path != Path.PYTORCH && !model.hasJavaPath()) {
      model.close();
      assumeTrue(false, "the Vector API path needs JDK 22+");
    }
    model.setJavaMaxTokens(path.javaMaxTokens);
    return model;
  }

  @org.junit.jupiter.api.Test
  void stepsRunOnTheVectorApiWhereTheJvmHasIt() {
    ModelConfig cfg = org.treeroll.engine.model.ModelPreset.TINY_QWEN3.config();
    try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, 3), DjlRuntime.device())) {
      boolean vectorApi = Runtime.version().feature() >= 22
          && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
      assertThat(model.hasJavaPath()).isEqualTo(vectorApi && !DjlRuntime.device().isGpu());
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void logitsMatchReferenceForward(ModelConfig cfg, Path path) {
    var weights = TinyModels.weights(cfg, 7);
    int[] tokens = new SplittableRandom(1).ints(37, 0, cfg.vocabSize()).toArray();
    float[][] expected = new ReferenceDecoder(cfg, weights).logits(tokens);
    try (Model model = load(cfg, weights, path);
        KvStore kv = model.newKvStore(new PagePool(8, 8))) {
      float[][] actual = forwardWhole(model, kv, tokens);
      assertThat(maxAbsDiff(actual, expected)).isLessThan(TOLERANCE);
      // The test only means something if the logits vary: a constant output would match anything.
      assertThat(spread(expected)).isGreaterThan(1.0);
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void incrementalDecodeEqualsFullRecompute(ModelConfig cfg, Path path) {
    var weights = TinyModels.weights(cfg, 11);
    int[] tokens = new SplittableRandom(2).ints(29, 0, cfg.vocabSize()).toArray();
    try (Model model = load(cfg, weights, path);
        KvStore kv = model.newKvStore(new PagePool(16, 4))) {
      float[][] full = forwardWhole(model, kv, tokens);
      // Prefill 9 tokens (crossing page boundaries of 4), then one token per step.
      PageTable table = new PageTable(kv.pool());
      float[][] incremental = new float[tokens.length][];
      int prefill = 9;
      float[][] first = forward(model, kv, List.of(chunk(table, tokens, 0, prefill, true)));
      System.arraycopy(first, 0, incremental, 0, prefill);
      for (int t = prefill; t < tokens.length; t++) {
        incremental[t] = forward(model, kv, List.of(chunk(table, tokens, t, t + 1, false)))[0];
      }
      table.release();
      assertThat(maxAbsDiff(incremental, full)).isLessThan(TOLERANCE);
      assertThat(kv.pool().pagesInUse()).isZero();
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void raggedBatchEqualsEachSequenceAlone(ModelConfig cfg, Path path) {
    var weights = TinyModels.weights(cfg, 13);
    SplittableRandom rng = new SplittableRandom(3);
    int[][] seqs = {
      rng.ints(17, 0, cfg.vocabSize()).toArray(),
      rng.ints(5, 0, cfg.vocabSize()).toArray(),
      rng.ints(23, 0, cfg.vocabSize()).toArray(),
      rng.ints(2, 0, cfg.vocabSize()).toArray()
    };
    try (Model model = load(cfg, weights, path);
        KvStore kv = model.newKvStore(new PagePool(64, 4))) {
      List<float[][]> alone = new ArrayList<>();
      for (int[] s : seqs) {
        alone.add(forwardWhole(model, kv, s));
      }
      // Batched: sequences 0 and 2 already hold part of their KV, so the step mixes prefill
      // chunks of different lengths at different offsets, with a single-token decode.
      int[] cached = {6, 0, 11, 1};
      List<PageTable> tables = new ArrayList<>();
      List<SequenceChunk> warm = new ArrayList<>();
      for (int i = 0; i < seqs.length; i++) {
        PageTable t = new PageTable(kv.pool());
        tables.add(t);
        if (cached[i] > 0) {
          warm.add(chunk(t, seqs[i], 0, cached[i], true));
        }
      }
      float[][] warmLogits = forward(model, kv, warm);
      List<SequenceChunk> batch = new ArrayList<>();
      for (int i = 0; i < seqs.length; i++) {
        batch.add(chunk(tables.get(i), seqs[i], cached[i], seqs[i].length, true));
      }
      float[][] batched = forward(model, kv, batch);
      int row = 0;
      int warmRow = 0;
      for (int i = 0; i < seqs.length; i++) {
        for (int t = 0; t < cached[i]; t++) {
          assertThat(maxAbsDiff(warmLogits[warmRow++], alone.get(i)[t])).isLessThan(TOLERANCE);
        }
        for (int t = cached[i]; t < seqs[i].length; t++) {
          assertThat(maxAbsDiff(batched[row++], alone.get(i)[t])).as("seq %d pos %d", i, t)
              .isLessThan(TOLERANCE);
        }
      }
      tables.forEach(PageTable::release);
    }
  }

  /**
   * A prefix decoded once, forked inside a page into two children (one takes over the partial
   * page, one copies it), each decoding its own continuation in one batch: every child's logits
   * equal those of its whole sequence decoded alone.
   */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void forkedBranchesEqualTheirPathsDecodedAlone(ModelConfig cfg, Path path) {
    var weights = TinyModels.weights(cfg, 17);
    SplittableRandom rng = new SplittableRandom(4);
    int[] prefix = rng.ints(10, 0, cfg.vocabSize()).toArray(); // 10 = 2 full pages of 4 + 2
    int[][] tails = {rng.ints(5, 0, cfg.vocabSize()).toArray(), rng.ints(3, 0, cfg.vocabSize()).toArray()};
    try (LlamaDecoder model = load(cfg, weights, path);
        KvStore kv = model.newKvStore(new PagePool(32, 4))) {
      int arraysBefore = model.liveArrays();
      PageTable parent = new PageTable(kv.pool());
      forward(model, kv, List.of(chunk(parent, prefix, 0, prefix.length, false)));
      List<PageTable> children = List.of(parent.fork(10, true, kv), parent.fork(10, false, kv));
      parent.release();
      assertThat(children.get(0).page(2)).isNotEqualTo(children.get(1).page(2));
      assertThat(children.get(0).page(0)).isEqualTo(children.get(1).page(0));
      List<SequenceChunk> batch = new ArrayList<>();
      for (int c = 0; c < 2; c++) {
        batch.add(chunk(children.get(c), tails[c], 0, tails[c].length, true));
      }
      float[][] batched = forward(model, kv, batch);
      int row = 0;
      for (int c = 0; c < 2; c++) {
        int[] whole = java.util.Arrays.copyOf(prefix, prefix.length + tails[c].length);
        System.arraycopy(tails[c], 0, whole, prefix.length, tails[c].length);
        float[][] alone = forwardWhole(model, kv, whole);
        for (int t = 0; t < tails[c].length; t++) {
          assertThat(maxAbsDiff(batched[row++], alone[prefix.length + t])).as("child %d token %d", c, t)
              .isLessThan(TOLERANCE);
        }
      }
      children.forEach(PageTable::release);
      assertThat(kv.pool().pagesInUse()).isZero();
      assertThat(model.liveArrays()).isEqualTo(arraysBefore);
    }
  }

  /**
   * A Llama-3.1-shaped config with rope_scaling (original context 64, so decoding to 80 tokens
   * runs past it): prefill then token-by-token decode against the reference, which scales the
   * frequencies in its own code. head_dim 16 at theta 10000 puts frequencies in all three bands.
   */
  @ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.EnumSource(Path.class)
  void llama3RopeScalingMatchesTheReferencePastTheOriginalContext(Path path) {
    ModelConfig plain = new ModelConfig(org.treeroll.engine.model.Architecture.LLAMA, 300, 64, 160, 2, 4, 2, 16, 1e-5,
        10_000, 2048, false, false, 0, new int[] {1});
    ModelConfig cfg = plain.withRopeScaling(new org.treeroll.engine.model.RopeScaling(8, 1, 4, 64));
    var weights = TinyModels.weights(cfg, 19);
    int[] tokens = new SplittableRandom(3).ints(80, 0, cfg.vocabSize()).toArray();
    float[][] expected = new ReferenceDecoder(cfg, weights).logits(tokens);
    try (Model model = load(cfg, weights, path);
        KvStore kv = model.newKvStore(new PagePool(32, 4))) {
      PageTable table = new PageTable(kv.pool());
      float[][] decoded = new float[tokens.length][];
      int prefill = 9;
      System.arraycopy(forward(model, kv, List.of(chunk(table, tokens, 0, prefill, true))), 0, decoded, 0, prefill);
      for (int t = prefill; t < tokens.length; t++) {
        decoded[t] = forward(model, kv, List.of(chunk(table, tokens, t, t + 1, false)))[0];
      }
      table.release();
      assertThat(maxAbsDiff(decoded, expected)).isLessThan(TOLERANCE);
      assertThat(maxAbsDiff(decoded[79], expected[79])).isLessThan(TOLERANCE);
    }
    // The scaling must matter here, else the match says nothing about it.
    float[][] unscaled = new ReferenceDecoder(plain, weights).logits(tokens);
    assertThat(maxAbsDiff(unscaled[79], expected[79])).isGreaterThan(1e-2);
  }

  @org.junit.jupiter.api.Test
  void generationLeavesNoArraysOrPagesBehind() throws Exception {
    ModelConfig cfg = org.treeroll.engine.model.ModelPreset.TINY_QWEN2.config();
    try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, 5), DjlRuntime.device());
        KvStore kv = model.newKvStore(new PagePool(32, 4))) {
      int before = model.liveArrays();
      io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
      try (var engine = org.treeroll.engine.scheduler.Scheduler.start(vertx, model, kv, cfg.eosTokenIds(), 16, false)) {
        var params = org.treeroll.engine.sampling.SamplingParams.defaults().withMaxTokens(9).withLogprobs(3);
        var out = engine.generate(List.of(new int[] {1, 2, 3},
            new int[] {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}), params)
            .get(1, java.util.concurrent.TimeUnit.MINUTES);
        assertThat(out).hasSize(2);
        assertThat(out.get(0).candidates()).hasSize(out.get(0).tokens().length);
        assertThat(model.liveArrays()).isEqualTo(before);
        var stats = engine.stats().get(1, java.util.concurrent.TimeUnit.MINUTES);
        assertThat(stats.pagesInUse()).isZero();
        assertThat(stats.peakPagesInUse()).isPositive();
      } catch (Exception e) {
        throw new AssertionError(e);
      } finally {
        vertx.close().toCompletionStage().toCompletableFuture().orTimeout(1, java.util.concurrent.TimeUnit.MINUTES).join();
      }
    }
  }

  private static SequenceChunk chunk(PageTable table, int[] tokens, int from, int to, boolean all) {
    table.reserve(to - from);
    return new SequenceChunk(table, java.util.Arrays.copyOfRange(tokens, from, to), all);
  }

  /** All-position logits of one sequence from an empty cache. */
  static float[][] forwardWhole(Model model, KvStore kv, int[] tokens) {
    PageTable table = new PageTable(kv.pool());
    try {
      return forward(model, kv, List.of(chunk(table, tokens, 0, tokens.length, true)));
    } finally {
      table.release();
    }
  }

  static float[][] forward(Model model, KvStore kv, List<SequenceChunk> chunks) {
    int vocab = model.config().vocabSize();
    try (NDManager m = NDManager.newBaseManager(model.device())) {
      float[] flat = model.forward(chunks, kv, m).toFloatArray();
      float[][] rows = new float[flat.length / vocab][];
      for (int r = 0; r < rows.length; r++) {
        rows[r] = java.util.Arrays.copyOfRange(flat, r * vocab, (r + 1) * vocab);
      }
      return rows;
    }
  }

  static double maxAbsDiff(float[][] a, float[][] b) {
    assertThat(a.length).isEqualTo(b.length);
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, maxAbsDiff(a[i], b[i]));
    }
    return max;
  }

  static double maxAbsDiff(float[] a, float[] b) {
    assertThat(a.length).isEqualTo(b.length);
    double max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }

  private static double spread(float[][] rows) {
    double min = Double.MAX_VALUE;
    double max = -Double.MAX_VALUE;
    for (float[] r : rows) {
      for (float v : r) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
    return max - min;
  }
}
