package org.treeroll.engine.model;

import java.util.List;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.io.WeightSource;

/** Tiny random models of every architecture, with the options each family can switch on. */
public final class TinyModels {
  private TinyModels() {}

  /**
   * Llama (plain, and with attention bias and untied embeddings), Qwen2, Qwen3, and a Qwen3 of
   * odd sizes (no dimension a multiple of a SIMD width or of 4, heads of 12) for kernel tails.
   */
  public static List<ModelConfig> allArchitectures() {
    ModelConfig llama = ModelPreset.TINY_LLAMA.config();
    ModelConfig llamaBiasUntied = new ModelConfig(Architecture.LLAMA, llama.vocabSize(),
        llama.hiddenSize(), llama.intermediateSize(), 3, 6, 3, 8, 1e-5, 500_000, 2048, false, true,
        -1, llama.eosTokenIds());
    ModelConfig oddShapes = new ModelConfig(Architecture.QWEN3, llama.vocabSize(), 38, 50, 2, 3, 1,
        12, 1e-6, 1_000_000, 2048, false, false, -1, llama.eosTokenIds());
    return List.of(llama, llamaBiasUntied, ModelPreset.TINY_QWEN2.config(),
        ModelPreset.TINY_QWEN3.config(), oddShapes);
  }

  /** In-memory random weights of {@code cfg}, deterministic from {@code seed}. */
  public static WeightSource weights(ModelConfig cfg, long seed) {
    List<NamedTensor> tensors = RandomModelWriter.tensors(cfg, seed);
    return InMemoryWeights.of(tensors);
  }
}
