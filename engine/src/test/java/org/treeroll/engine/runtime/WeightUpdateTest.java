package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.treeroll.engine.model.WeightNames.*;
import static org.treeroll.engine.runtime.LlamaDecoderTest.maxAbsDiff;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.io.SafetensorsWriter;
import org.treeroll.engine.io.UpdateTensor;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.InMemoryWeights;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.model.TinyModels;
import org.treeroll.engine.runtime.LlamaDecoderTest.Path;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.TreeRollException;

/**
 * Weight updates against fresh loads. A model updated to weights B must hold the very floats a
 * load of B lays out (the same conversion runs on the same values): every weight array, fused
 * and folded as the decoder holds it, is compared bit for bit. Logits are compared too, within
 * {@link #LOGIT_TOLERANCE}, not exactly: the Java kernels sum vector lanes
 * ({@code reduceLanes}) in an order the Vector API leaves open, and it changes when C2 compiles
 * them, so one model's logits for one input moved by up to 4.3e-6 between its first call and
 * later ones here (on logits of magnitude 6-9, i.e. a few float ulps). PyTorch's were identical
 * over 60 calls.
 */
class WeightUpdateTest {
  /** About 20 float ulps at the tiny models' logit scale (6-9): reduction order, nothing more. */
  private static final double LOGIT_TOLERANCE = 1e-5;

  private static final long SEED_A = 101;
  private static final long SEED_B = 202;
  private static final long SEED_C = 303;

  @TempDir java.nio.file.Path dir;

  /** Both forward paths: PyTorch on its own layout, and the Java kernels. */
  static Stream<Arguments> configs() {
    return TinyModels.allArchitectures().stream()
        .flatMap(cfg -> Stream.of(Path.PYTORCH, Path.VECTOR).map(p -> Arguments.of(cfg, p)));
  }

  static Stream<Arguments> configsAndFileTypes() {
    return configs().flatMap(a -> Stream.of(DType.F32, DType.BF16, DType.F16)
        .map(t -> Arguments.of(a.get()[0], a.get()[1], t)));
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void fullUpdateFromMemoryEqualsAFreshLoad(ModelConfig cfg, Path path) {
    List<NamedTensor> b = RandomModelWriter.tensors(cfg, SEED_B);
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, TinyModels.weights(cfg, SEED_A), path)) {
      float[][] before = logits(model);
      Model.PreparedUpdate prepared = model.prepareUpdate(f32(b));
      assertThat(prepared.names()).containsExactlyElementsOf(b.stream().map(NamedTensor::name).toList());
      assertThat(prepared.bytes()).isGreaterThanOrEqualTo(4L * cfg.parameterCount());
      model.applyUpdate(prepared);
      Served fresh = fresh(cfg, InMemoryWeights.of(b), path);
      assertServes(model, fresh);
      assertThat(maxAbsDiff(before, fresh.logits())).isGreaterThan(0.1); // A and B do differ
    }
  }

  /** From {@code model.safetensors} in each dtype, against a load of that same directory. */
  @ParameterizedTest(name = "{0} {1} {2}")
  @MethodSource("configsAndFileTypes")
  void fullUpdateFromADirectoryEqualsAFreshLoadOfIt(ModelConfig cfg, Path path, DType dtype) {
    java.nio.file.Path b = dir.resolve("b");
    RandomModelWriter.writeDirectory(b, cfg, RandomModelWriter.tensors(cfg, SEED_B), dtype, Map.of(), null);
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, TinyModels.weights(cfg, SEED_A), path);
        WeightSource fromDisk = WeightSource.open(b)) {
      WeightUpdate update = WeightUpdate.fromDirectory(b);
      assertThat(update.dtype(EMBED)).isEqualTo(dtype);
      model.applyUpdate(model.prepareUpdate(update));
      assertServes(model, fresh(cfg, fromDisk, path));
    }
  }

  /** Two shards of different half-precision types: through the index, and as a list of files. */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void shardedUpdateEqualsAFreshLoadOfTheShards(ModelConfig cfg, Path path) throws Exception {
    List<NamedTensor> b = RandomModelWriter.tensors(cfg, SEED_B);
    int half = b.size() / 2;
    java.nio.file.Path s1 = dir.resolve("model-00001-of-00002.safetensors");
    java.nio.file.Path s2 = dir.resolve("model-00002-of-00002.safetensors");
    SafetensorsWriter.write(s1, b.subList(0, half), DType.BF16, Map.of());
    SafetensorsWriter.write(s2, b.subList(half, b.size()), DType.F16, Map.of());
    StringBuilder index = new StringBuilder("{\"weight_map\": {");
    for (int i = 0; i < b.size(); i++) {
      index.append(i == 0 ? "" : ", ").append('"').append(b.get(i).name()).append("\": \"")
          .append((i < half ? s1 : s2).getFileName()).append('"');
    }
    Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}"));
    try (WeightSource fromDisk = WeightSource.open(dir)) {
      Served fresh = fresh(cfg, fromDisk, path);
      for (WeightUpdate update : List.of(WeightUpdate.fromDirectory(dir), WeightUpdate.fromSafetensors(List.of(s1, s2)))) {
        try (LlamaDecoder model = LlamaDecoderTest.load(cfg, TinyModels.weights(cfg, SEED_A), path)) {
          assertThat(update.dtype(b.getLast().name())).isEqualTo(DType.F16);
          model.applyUpdate(model.prepareUpdate(update));
          assertServes(model, fresh);
        }
      }
    }
  }

  /** In-memory tensors of all three dtypes in one update, against a load of their fp32 values. */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void inMemoryHalfPrecisionTensorsEqualAFreshLoadOfTheirValues(ModelConfig cfg, Path path) {
    List<NamedTensor> b = RandomModelWriter.tensors(cfg, SEED_B);
    DType[] types = DType.values();
    List<UpdateTensor> tensors = new ArrayList<>();
    for (int i = 0; i < b.size(); i++) {
      NamedTensor t = b.get(i);
      tensors.add(UpdateTensor.encode(t.name(), types[i % types.length], t.shape(), t.data()));
    }
    WeightUpdate update = WeightUpdate.fromTensors(tensors);
    List<NamedTensor> rounded = new ArrayList<>();
    for (NamedTensor t : b) {
      rounded.add(new NamedTensor(t.name(), t.shape(), update.readFloats(t.name())));
    }
    assertThat(rounded.get(1).data()).isNotEqualTo(b.get(1).data()); // a BF16 tensor lost bits
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, TinyModels.weights(cfg, SEED_A), path)) {
      model.applyUpdate(model.prepareUpdate(update));
      assertServes(model, fresh(cfg, InMemoryWeights.of(rounded), path));
    }
  }

  /** Subsets of a checkpoint's tensors that a partial update may send. */
  enum Subset {
    /** Matrices refolded with the kept norm (q) or not folded at all (down). */
    LAYER_1_Q_AND_DOWN(n -> n.equals(layer(1, Q_PROJ + ".weight")) || n.equals(layer(1, DOWN_PROJ))),
    /** Tied models: the LM head changes with it. */
    EMBEDDING(n -> n.equals(EMBED)),
    LM_HEAD_IF_UNTIED(n -> n.equals(LM_HEAD)),
    /** Norms with the matrices they fold into; the small arrays the Java path copies. */
    NORMS_BIASES_AND_QK_NORMS(n -> n.equals(FINAL_NORM) || n.endsWith(".bias")
        || n.startsWith("model.layers.0.") && !n.endsWith("o_proj.weight") && !n.endsWith("down_proj.weight"));

    final Predicate<String> names;

    Subset(Predicate<String> names) {
      this.names = names;
    }
  }

  static Stream<Arguments> configsAndSubsets() {
    // LM_HEAD_IF_UNTIED is empty for a tied model: nothing to test there.
    return configs().flatMap(a -> Stream.of(Subset.values())
        .filter(s -> shapes((ModelConfig) a.get()[0]).keySet().stream().anyMatch(s.names))
        .map(s -> Arguments.of(a.get()[0], a.get()[1], s)));
  }

  @ParameterizedTest(name = "{0} {1} {2}")
  @MethodSource("configsAndSubsets")
  void partialUpdateEqualsAFreshLoadWithThoseTensorsReplaced(ModelConfig cfg, Path path, Subset subset) {
    List<NamedTensor> a = RandomModelWriter.tensors(cfg, SEED_A);
    List<NamedTensor> b = RandomModelWriter.tensors(cfg, SEED_B);
    List<NamedTensor> sent = b.stream().filter(t -> subset.names.test(t.name())).toList();
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, InMemoryWeights.of(a), path)) {
      float[][] before = logits(model);
      model.applyUpdate(model.prepareUpdate(f32(sent)));
      Served fresh = fresh(cfg, InMemoryWeights.of(replaced(a, sent)), path);
      assertServes(model, fresh);
      assertThat(maxAbsDiff(before, fresh.logits())).isGreaterThan(1e-3);
      if (subset == Subset.EMBEDDING) {
        assertThat(model.inputEmbedding(7)).containsExactly(row(sent.getFirst(), 7));
      }
    }
  }

  /** A matrix update after a norm update folds with the new norm, as a load of the result does. */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void matrixUpdateAfterANormUpdateFoldsWithTheNewNorm(ModelConfig cfg, Path path) {
    List<NamedTensor> a = RandomModelWriter.tensors(cfg, SEED_A);
    List<NamedTensor> b = only(RandomModelWriter.tensors(cfg, SEED_B), layer(1, INPUT_NORM),
        layer(1, Q_PROJ + ".weight"), layer(1, K_PROJ + ".weight"), layer(1, V_PROJ + ".weight"));
    List<NamedTensor> c = only(RandomModelWriter.tensors(cfg, SEED_C), layer(1, K_PROJ + ".weight"));
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, InMemoryWeights.of(a), path)) {
      model.applyUpdate(model.prepareUpdate(f32(b)));
      model.applyUpdate(model.prepareUpdate(f32(c)));
      assertServes(model, fresh(cfg, InMemoryWeights.of(replaced(replaced(a, b), c)), path));
    }
  }

  /** Preparing runs on another thread while steps run, and changes nothing until applied. */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("configs")
  void prepareOnAnotherThreadLeavesServedWeightsAlone(ModelConfig cfg, Path path) throws Exception {
    List<NamedTensor> b = RandomModelWriter.tensors(cfg, SEED_B);
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, TinyModels.weights(cfg, SEED_A), path)) {
      Served before = served(model);
      var prepared = java.util.concurrent.CompletableFuture.supplyAsync(() -> model.prepareUpdate(f32(b)));
      for (int i = 0; i < 3; i++) {
        assertServes(model, before);
      }
      Model.PreparedUpdate update = prepared.get();
      assertServes(model, before);
      model.applyUpdate(update);
      assertServes(model, fresh(cfg, InMemoryWeights.of(b), path));
    }
  }

  /** Prepared against a norm that another update then replaced: refolding would be stale. */
  @Test
  void updatePreparedAgainstReplacedNormsIsRefused() {
    ModelConfig cfg = ModelPreset.TINY_QWEN3.config();
    List<NamedTensor> b = RandomModelWriter.tensors(cfg, SEED_B);
    try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, SEED_A), DjlRuntime.device())) {
      Model.PreparedUpdate qOnly = model.prepareUpdate(f32(only(b, layer(0, Q_PROJ + ".weight"))));
      Model.PreparedUpdate downOnly = model.prepareUpdate(f32(only(b, layer(0, DOWN_PROJ))));
      model.applyUpdate(model.prepareUpdate(f32(only(b, layer(0, INPUT_NORM), layer(0, Q_PROJ + ".weight"),
          layer(0, K_PROJ + ".weight"), layer(0, V_PROJ + ".weight")))));
      Served served = served(model);
      assertThatThrownBy(() -> model.applyUpdate(qOnly)).isInstanceOf(TreeRollException.class)
          .hasMessage("weight update: prepared against the norm weights of layer 0, which an update applied"
              + " since has replaced; prepare it again");
      assertServes(model, served);
      model.applyUpdate(downOnly); // folds with no norm: still valid
      assertThat(maxAbsDiff(logits(model), served.logits())).isGreaterThan(1e-3);
    }
  }

  @Test
  void updatePreparedByAnotherModelIsRefused() {
    ModelConfig cfg = ModelPreset.TINY_QWEN2.config();
    try (LlamaDecoder one = LlamaDecoder.load(cfg, TinyModels.weights(cfg, SEED_A), DjlRuntime.device());
        LlamaDecoder two = LlamaDecoder.load(cfg, TinyModels.weights(cfg, SEED_A), DjlRuntime.device())) {
      Model.PreparedUpdate forOne = one.prepareUpdate(f32(RandomModelWriter.tensors(cfg, SEED_B)));
      Served served = served(two);
      assertThatThrownBy(() -> two.applyUpdate(forOne)).isInstanceOf(TreeRollException.class)
          .hasMessageContaining("prepared by another model");
      assertServes(two, served);
    }
  }

  /** A bad update, the model it is sent to, and the exact message refusing it. */
  record Refusal(String what, ModelPreset preset, Supplier<WeightUpdate> update, String message) {
    @Override
    public String toString() {
      return what;
    }
  }

  static Stream<Arguments> refusals() {
    ModelConfig llama = ModelPreset.TINY_LLAMA.config();
    ModelConfig qwen2 = ModelPreset.TINY_QWEN2.config();
    ModelConfig qwen3 = ModelPreset.TINY_QWEN3.config();
    String q0 = layer(0, Q_PROJ + ".weight");
    List<Refusal> cases = List.of(
        new Refusal("layer out of range", ModelPreset.TINY_QWEN3,
            () -> f32(List.of(zeros(layer(9, UP_PROJ), 160, 64))),
            "weight update: unknown tensor 'model.layers.9.mlp.up_proj.weight' (the model has 2 layers)"),
        new Refusal("q_norm on Llama", ModelPreset.TINY_LLAMA,
            () -> f32(List.of(zeros(layer(0, Q_NORM), 16))),
            "weight update: unknown tensor 'model.layers.0.self_attn.q_norm.weight' (only Qwen3ForCausalLM"
                + " has q_norm and k_norm; this model is LlamaForCausalLM)"),
        new Refusal("q bias on Qwen3", ModelPreset.TINY_QWEN3,
            () -> f32(List.of(zeros(layer(1, Q_PROJ + ".bias"), 128))),
            "weight update: unknown tensor 'model.layers.1.self_attn.q_proj.bias' (this Qwen3ForCausalLM"
                + " model has no q, k and v biases)"),
        new Refusal("lm_head of a tied model", ModelPreset.TINY_QWEN2,
            () -> f32(List.of(zeros(LM_HEAD, 259, 64))),
            "weight update: unknown tensor 'lm_head.weight' (the model ties its LM head to the embedding:"
                + " send model.embed_tokens.weight)"),
        new Refusal("not a weight name", ModelPreset.TINY_QWEN2,
            () -> f32(List.of(zeros("model.rotary_emb.inv_freq", 8))),
            "weight update: unknown tensor 'model.rotary_emb.inv_freq' (not a tensor of a Qwen2ForCausalLM model)"),
        new Refusal("wrong shape", ModelPreset.TINY_LLAMA,
            () -> f32(List.of(zeros(q0, 128, 64))),
            "weight update: 'model.layers.0.self_attn.q_proj.weight' has shape [128, 64], the model's is [64, 64]"),
        new Refusal("transposed", ModelPreset.TINY_LLAMA,
            () -> f32(List.of(zeros(layer(1, DOWN_PROJ), 160, 64))),
            "weight update: 'model.layers.1.mlp.down_proj.weight' has shape [160, 64], the model's is [64, 160]"),
        new Refusal("NaN in the last tensor", ModelPreset.TINY_QWEN3,
            () -> f32(List.of(tensor(qwen3, EMBED), withValue(tensor(qwen3, q0), 2 * 64 + 5, Float.NaN))),
            "weight update: 'model.layers.0.self_attn.q_proj.weight' holds NaN at [2, 5]: weights must be finite"),
        new Refusal("infinity in a BF16 norm", ModelPreset.TINY_QWEN2,
            () -> WeightUpdate.fromTensors(List.of(UpdateTensor.encode(FINAL_NORM, DType.BF16, new long[] {64},
                withValue(tensor(qwen2, FINAL_NORM), 63, Float.NEGATIVE_INFINITY).data()))),
            "weight update: 'model.norm.weight' holds -Infinity at [63]: weights must be finite"),
        new Refusal("input norm alone", ModelPreset.TINY_LLAMA,
            () -> f32(List.of(tensor(llama, layer(1, INPUT_NORM)), tensor(llama, layer(1, Q_PROJ + ".weight")))),
            "weight update: 'model.layers.1.input_layernorm.weight' is folded into q_proj, k_proj and v_proj of"
                + " layer 1: send them in the same update (missing: model.layers.1.self_attn.k_proj.weight,"
                + " model.layers.1.self_attn.v_proj.weight)"),
        new Refusal("post-attention norm alone", ModelPreset.TINY_QWEN3,
            () -> f32(List.of(tensor(qwen3, layer(0, POST_ATTN_NORM)))),
            "weight update: 'model.layers.0.post_attention_layernorm.weight' is folded into gate_proj and"
                + " up_proj of layer 0: send them in the same update (missing: model.layers.0.mlp.gate_proj.weight,"
                + " model.layers.0.mlp.up_proj.weight)"),
        new Refusal("duplicate name", ModelPreset.TINY_QWEN3,
            () -> f32(List.of(tensor(qwen3, FINAL_NORM), tensor(qwen3, q0), tensor(qwen3, FINAL_NORM))),
            "weight update: tensor 'model.norm.weight' is given twice; send each tensor once"),
        new Refusal("empty", ModelPreset.TINY_QWEN3,
            () -> WeightUpdate.fromTensors(List.of()),
            "weight update: no tensors (an empty update would change nothing)"));
    return cases.stream().flatMap(r -> Stream.of(Path.PYTORCH, Path.VECTOR).map(p -> Arguments.of(r, p)));
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("refusals")
  void malformedUpdateIsRefusedAndTheOldWeightsKeepServing(Refusal r, Path path) {
    ModelConfig cfg = r.preset().config();
    try (LlamaDecoder model = LlamaDecoderTest.load(cfg, TinyModels.weights(cfg, SEED_A), path)) {
      Served served = served(model);
      assertThatThrownBy(() -> model.applyUpdate(model.prepareUpdate(r.update().get())))
          .isInstanceOf(TreeRollException.class).hasMessage(r.message());
      assertServes(model, served);
    }
  }

  /** A dtype TreeRoll does not take (F64) is refused when the update is made from the file. */
  @Test
  void unsupportedDtypeInAFileIsRefused() throws Exception {
    java.nio.file.Path f = dir.resolve("update.safetensors");
    byte[] header = "{\"model.norm.weight\": {\"dtype\": \"F64\", \"shape\": [64], \"data_offsets\": [0, 512]}}"
        .getBytes(StandardCharsets.UTF_8);
    ByteBuffer file = ByteBuffer.allocate(8 + header.length + 512).order(ByteOrder.LITTLE_ENDIAN);
    Files.write(f, file.putLong(header.length).put(header).array());
    assertThatThrownBy(() -> WeightUpdate.fromSafetensors(List.of(f))).isInstanceOf(TreeRollException.class)
        .hasMessage("weight update: " + f + ": tensor 'model.norm.weight' has dtype F64; only F32, F16, BF16"
            + " are supported");
  }

  /** Logits of a prefill of 20 tokens, then of 3 single-token steps (the one-row kernels). */
  static float[][] logits(Model model) {
    ModelConfig cfg = model.config();
    int[] tokens = new SplittableRandom(9).ints(23, 0, cfg.vocabSize()).toArray();
    try (KvStore kv = model.newKvStore(new PagePool(8, 4))) {
      PageTable table = new PageTable(kv.pool());
      List<float[]> rows = new ArrayList<>();
      for (int from = 0, to = 20; from < tokens.length; from = to, to = from + 1) {
        table.reserve(to - from);
        float[][] step = LlamaDecoderTest.forward(model, kv,
            List.of(new SequenceChunk(table, java.util.Arrays.copyOfRange(tokens, from, to), true)));
        rows.addAll(List.of(step));
      }
      table.release();
      return rows.toArray(float[][]::new);
    }
  }

  /** What a model serves: every weight array as it holds them, keyed by role, and its logits. */
  record Served(Map<String, float[]> weights, float[][] logits) {}

  static Served served(LlamaDecoder m) {
    Map<String, float[]> w = new LinkedHashMap<>();
    w.put("embedding [hidden, vocab]", m.embedT().array().toFloatArray());
    w.put("LM head", m.lmHead().weight().toFloatArray());
    w.put("final norm", m.finalNorm().array().toFloatArray());
    for (int l = 0; l < m.config().numLayers(); l++) {
      LlamaDecoder.Layer x = m.layerWeights(l);
      w.put(l + " qkv", x.qkv().weight().toFloatArray());
      w.put(l + " o", x.o().weight().toFloatArray());
      w.put(l + " gate/up", x.gateUp().weight().toFloatArray());
      w.put(l + " down", x.down().weight().toFloatArray());
      putIfPresent(w, l + " qkv bias", x.bqkv());
      putIfPresent(w, l + " o bias", x.bo());
      putIfPresent(w, l + " q/k norm", x.qkNorm());
      w.put(l + " input norm (kept)", m.layerNorms(l).input());
      w.put(l + " post-attention norm (kept)", m.layerNorms(l).postAttention());
    }
    return new Served(w, logits(m));
  }

  private static void putIfPresent(Map<String, float[]> w, String role, SharedArray a) {
    if (a != null) {
      w.put(role, a.array().toFloatArray());
    }
  }

  /** A fresh load in fp32, as the updated model holds its weights whatever the file's dtype. */
  static Served fresh(ModelConfig cfg, WeightSource weights, Path path) {
    try (LlamaDecoder fresh = LlamaDecoderTest.load(cfg, weights, path, WeightPrecision.FP32)) {
      return served(fresh);
    }
  }

  /** The same weights bit for bit, and logits within {@link #LOGIT_TOLERANCE}. */
  static void assertServes(LlamaDecoder model, Served expected) {
    Served actual = served(model);
    assertThat(actual.weights().keySet()).containsExactlyElementsOf(expected.weights().keySet());
    actual.weights().forEach((role, values) -> assertThat(values).as(role).containsExactly(expected.weights().get(role)));
    assertThat(maxAbsDiff(actual.logits(), expected.logits())).isLessThanOrEqualTo(LOGIT_TOLERANCE);
  }

  static WeightUpdate f32(List<NamedTensor> tensors) {
    return WeightUpdate.fromTensors(tensors.stream().map(t -> UpdateTensor.f32(t.name(), t.shape(), t.data())).toList());
  }

  /** {@code base} with every tensor of {@code sent} put in its place. */
  static List<NamedTensor> replaced(List<NamedTensor> base, List<NamedTensor> sent) {
    Map<String, NamedTensor> out = new LinkedHashMap<>();
    base.forEach(t -> out.put(t.name(), t));
    sent.forEach(t -> out.put(t.name(), t));
    return List.copyOf(out.values());
  }

  static List<NamedTensor> only(List<NamedTensor> tensors, String... names) {
    List<String> keep = List.of(names);
    return tensors.stream().filter(t -> keep.contains(t.name())).toList();
  }

  private static NamedTensor tensor(ModelConfig cfg, String name) {
    return only(RandomModelWriter.tensors(cfg, SEED_B), name).getFirst();
  }

  private static NamedTensor zeros(String name, long... shape) {
    return new NamedTensor(name, shape, new float[(int) java.util.Arrays.stream(shape).reduce(1, (x, y) -> x * y)]);
  }

  private static NamedTensor withValue(NamedTensor t, int index, float value) {
    float[] data = t.data().clone();
    data[index] = value;
    return new NamedTensor(t.name(), t.shape(), data);
  }

  /** Row {@code r} of a HF matrix {@code [rows, cols]}. */
  private static float[] row(NamedTensor t, int r) {
    int cols = (int) t.shape()[1];
    return java.util.Arrays.copyOfRange(t.data(), r * cols, (r + 1) * cols);
  }
}
