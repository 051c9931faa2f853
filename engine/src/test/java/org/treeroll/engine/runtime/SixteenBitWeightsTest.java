package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.treeroll.engine.runtime.LlamaDecoderTest.forwardWhole;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.model.ReferenceDecoder;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.TreeRollException;

/**
 * BF16 and F16 checkpoints kept as stored: the log-probs equal those of the same weights widened
 * to fp32 at load (the fp32 path) and of the independent reference forward, over a prefill and
 * one-token decode steps, for each architecture; weight updates and poisoned checkpoints too.
 */
class SixteenBitWeightsTest {
  private static final double SAME_WEIGHTS = 1e-5;
  private static final double REFERENCE = 1e-4;

  static Stream<Arguments> checkpoints() {
    return Stream.of(ModelPreset.TINY_LLAMA, ModelPreset.TINY_QWEN2, ModelPreset.TINY_QWEN3)
        .flatMap(p -> Stream.of(DType.BF16, DType.F16).map(t -> Arguments.of(p, t)));
  }

  /** 16-bit weights stay 16-bit exactly where the Java kernels run the steps. */
  private static DType expectedKept(DType stored) {
    return JavaForward.available() && !DjlRuntime.device().isGpu() ? stored : DType.F32;
  }

  private static Path write(Path dir, ModelConfig cfg, long seed, DType type) {
    RandomModelWriter.writeDirectory(dir, cfg, RandomModelWriter.tensors(cfg, seed), type, Map.of(), null);
    return dir;
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("checkpoints")
  void logProbsEqualTheFp32PathAndTheReference(ModelPreset preset, DType type, @TempDir Path tmp) {
    ModelConfig cfg = preset.config();
    int[] tokens = new SplittableRandom(5).ints(41, 0, cfg.vocabSize()).toArray();
    try (WeightSource weights = WeightSource.open(write(tmp, cfg, 9, type));
        LlamaDecoder kept = LlamaDecoder.load(cfg, weights, DjlRuntime.device(), WeightPrecision.AS_STORED);
        LlamaDecoder wide = LlamaDecoder.load(cfg, weights, DjlRuntime.device(), WeightPrecision.FP32)) {
      assertThat(kept.weightType()).isEqualTo(expectedKept(type));
      assertThat(wide.weightType()).isEqualTo(DType.F32);
      float[][] reference = new ReferenceDecoder(cfg, weights).logits(tokens);
      float[][] fromKept = prefillThenDecode(kept, tokens, 13);
      float[][] fromWide = prefillThenDecode(wide, tokens, 13);
      assertThat(maxLogProbDiff(fromKept, fromWide)).isLessThan(SAME_WEIGHTS);
      assertThat(maxLogProbDiff(fromKept, reference)).isLessThan(REFERENCE);
      // Batched prefill rows (register tiles) against the reference as well.
      try (KvStore kv = kept.newKvStore(new PagePool(16, 8))) {
        assertThat(maxLogProbDiff(forwardWhole(kept, kv, tokens), reference)).isLessThan(REFERENCE);
      }
    }
  }

  @Test
  void aBf16UpdateOfABf16ModelEqualsLoadingTheUpdatedCheckpoint(@TempDir Path tmp) {
    ModelConfig cfg = ModelPreset.TINY_QWEN3.config();
    int[] tokens = new SplittableRandom(6).ints(23, 0, cfg.vocabSize()).toArray();
    Path a = write(tmp.resolve("a"), cfg, 1, DType.BF16);
    Path b = write(tmp.resolve("b"), cfg, 2, DType.BF16);
    try (WeightSource wa = WeightSource.open(a);
        WeightSource wb = WeightSource.open(b);
        LlamaDecoder model = LlamaDecoder.load(cfg, wa, DjlRuntime.device());
        LlamaDecoder fresh = LlamaDecoder.load(cfg, wb, DjlRuntime.device())) {
      float[][] before = prefillThenDecode(model, tokens, 7);
      model.applyUpdate(model.prepareUpdate(WeightUpdate.fromDirectory(b)));
      float[][] after = prefillThenDecode(model, tokens, 7);
      assertThat(maxLogProbDiff(after, prefillThenDecode(fresh, tokens, 7))).isLessThan(SAME_WEIGHTS);
      assertThat(maxLogProbDiff(after, before)).isGreaterThan(0.1); // the update changed something
      if (model.weightType() == DType.BF16) {
        assertSameMatrixBits(model, fresh, cfg.numLayers()); // the stored bits are the checkpoint's
      }
    }
  }

  /**
   * {@link WeightPrecision#BF16} on an fp32 checkpoint rounds its matrices at load as a BF16
   * checkpoint of the same weights stores them, bit for bit; the log-probs move by the rounding.
   */
  @Test
  void anFp32CheckpointAskedForBf16HoldsTheBitsOfItsBf16Checkpoint(@TempDir Path tmp) {
    ModelConfig cfg = ModelPreset.TINY_QWEN3.config();
    int[] tokens = new SplittableRandom(8).ints(19, 0, cfg.vocabSize()).toArray();
    try (WeightSource f32 = WeightSource.open(write(tmp.resolve("f32"), cfg, 5, DType.F32));
        WeightSource bf16 = WeightSource.open(write(tmp.resolve("bf16"), cfg, 5, DType.BF16));
        LlamaDecoder rounded = LlamaDecoder.load(cfg, f32, DjlRuntime.device(), WeightPrecision.BF16);
        LlamaDecoder stored = LlamaDecoder.load(cfg, bf16, DjlRuntime.device(), WeightPrecision.AS_STORED);
        LlamaDecoder exact = LlamaDecoder.load(cfg, f32, DjlRuntime.device(), WeightPrecision.AS_STORED)) {
      assertThat(rounded.weightType()).isEqualTo(expectedKept(DType.BF16));
      double moved = maxLogProbDiff(prefillThenDecode(rounded, tokens, 5), prefillThenDecode(exact, tokens, 5));
      if (rounded.weightType() != DType.BF16) {
        assertThat(moved).isZero(); // widened back to fp32 where PyTorch runs the steps
        return;
      }
      assertSameMatrixBits(rounded, stored, cfg.numLayers());
      assertThat(moved).isGreaterThan(0).isLessThan(0.1);
    }
  }

  @Test
  void aSixteenBitUpdateHoldingANonFiniteValueIsRefusedNamingTheTensor(@TempDir Path tmp) {
    ModelConfig cfg = ModelPreset.TINY_QWEN2.config();
    try (WeightSource weights = WeightSource.open(write(tmp, cfg, 4, DType.BF16));
        LlamaDecoder model = LlamaDecoder.load(cfg, weights, DjlRuntime.device())) {
      String name = "model.layers.0.self_attn.o_proj.weight";
      long[] shape = {cfg.hiddenSize(), (long) cfg.numHeads() * cfg.headDim()};
      float[] values = new float[(int) (shape[0] * shape[1])];
      values[5] = Float.POSITIVE_INFINITY;
      WeightUpdate update = WeightUpdate.fromTensors(List.of(
          org.treeroll.engine.io.UpdateTensor.encode(name, DType.BF16, shape, values)));
      assertThatThrownBy(() -> model.prepareUpdate(update))
          .isInstanceOf(TreeRollException.class)
          .hasMessageContaining("'" + name + "'")
          .hasMessageContaining("Infinity");
    }
  }

  /** The two 16-bit models hold the same bits in every matrix. */
  private static void assertSameMatrixBits(LlamaDecoder got, LlamaDecoder want, int layers) {
    assertThat(bytes(got.embedT())).isEqualTo(bytes(want.embedT()));
    for (int l = 0; l < layers; l++) {
      LlamaDecoder.Layer g = got.layerWeights(l);
      LlamaDecoder.Layer w = want.layerWeights(l);
      assertThat(bytes(g.qkv().shared())).as("layer %d q/k/v", l).isEqualTo(bytes(w.qkv().shared()));
      assertThat(bytes(g.o().shared())).as("layer %d o", l).isEqualTo(bytes(w.o().shared()));
      assertThat(bytes(g.gateUp().shared())).as("layer %d gate/up", l).isEqualTo(bytes(w.gateUp().shared()));
      assertThat(bytes(g.down().shared())).as("layer %d down", l).isEqualTo(bytes(w.down().shared()));
    }
  }

  private static byte[] bytes(SharedArray a) {
    java.nio.ByteBuffer b = a.chunks().get(0).duplicate().clear();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  @ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.EnumSource(value = DType.class, names = {"BF16", "F16"})
  void aCheckpointWithOneNonFiniteWeightIsRefusedNamingTheTensor(DType type, @TempDir Path tmp) {
    ModelConfig cfg = ModelPreset.TINY_LLAMA.config();
    List<NamedTensor> tensors = new ArrayList<>(RandomModelWriter.tensors(cfg, 3));
    String poisoned = "model.layers.1.mlp.down_proj.weight";
    for (int i = 0; i < tensors.size(); i++) {
      if (tensors.get(i).name().equals(poisoned)) {
        float[] data = tensors.get(i).data().clone();
        data[17] = Float.NaN;
        tensors.set(i, new NamedTensor(poisoned, tensors.get(i).shape(), data));
      }
    }
    RandomModelWriter.writeDirectory(tmp, cfg, tensors, type, Map.of(), null);
    try (WeightSource weights = WeightSource.open(tmp)) {
      assertThatThrownBy(() -> LlamaDecoder.load(cfg, weights, DjlRuntime.device()).close())
          .isInstanceOf(TreeRollException.class)
          .hasMessageContaining("'" + poisoned + "'")
          .hasMessageContaining("NaN");
    }
  }

  @Test
  void aModelThatCannotFitIsRefusedNamingTheSizesBeforeReadingAnyWeight() {
    // Llama-3-405B's shape: ~810 GB of BF16, ~1.6 TB in fp32. The source holds no tensor at all,
    // so the check must come before the first read.
    ModelConfig huge = new ModelConfig(org.treeroll.engine.model.Architecture.LLAMA, 128256, 16384, 53248, 126,
        128, 8, 128, 1e-5, 500000, 131072, false, false, 128000, new int[] {128001});
    WeightSource empty = org.treeroll.engine.model.InMemoryWeights.of(List.of());
    assertThatThrownBy(() -> LlamaDecoder.load(huge, empty, DjlRuntime.device()).close())
        .isInstanceOf(TreeRollException.class)
        .hasMessageMatching("the model's weights need \\d+\\.\\d\\d GB .*")
        .hasMessageContaining("GB available");
  }

  /** Logits at every position: the first {@code prefill} tokens in one step, then one token a step. */
  private static float[][] prefillThenDecode(Model model, int[] tokens, int prefill) {
    try (KvStore kv = model.newKvStore(new PagePool(16, 8))) {
      PageTable table = new PageTable(kv.pool());
      List<float[]> rows = new ArrayList<>();
      try {
        for (int from = 0; from < tokens.length; ) {
          int to = from == 0 ? prefill : from + 1;
          table.reserve(to - from);
          rows.addAll(List.of(LlamaDecoderTest.forward(model, kv,
              List.of(new SequenceChunk(table, java.util.Arrays.copyOfRange(tokens, from, to), true)))));
          from = to;
        }
      } finally {
        table.release();
      }
      return rows.toArray(float[][]::new);
    }
  }

  private static double maxLogProbDiff(float[][] a, float[][] b) {
    assertThat(a.length).isEqualTo(b.length);
    double max = 0;
    for (int r = 0; r < a.length; r++) {
      double za = logSumExp(a[r]);
      double zb = logSumExp(b[r]);
      for (int v = 0; v < a[r].length; v++) {
        max = Math.max(max, Math.abs((a[r][v] - za) - (b[r][v] - zb)));
      }
    }
    return max;
  }

  private static double logSumExp(float[] x) {
    double m = Double.NEGATIVE_INFINITY;
    for (float v : x) {
      m = Math.max(m, v);
    }
    double s = 0;
    for (float v : x) {
      s += Math.exp(v - m);
    }
    return m + Math.log(s);
  }
}
