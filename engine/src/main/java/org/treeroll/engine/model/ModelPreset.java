package org.treeroll.engine.model;

import java.util.Arrays;
import java.util.stream.Collectors;
import org.treeroll.tree.TreeRollException;

/**
 * Model shapes TreeRoll can generate with random weights: tiny ones for tests (a byte-level
 * tokenizer of 256 bytes plus three special tokens) and the shapes of real checkpoints for
 * benchmarks (with the real Qwen3 tokenizer).
 */
public enum ModelPreset {
  TINY_LLAMA("tiny-llama"),
  TINY_QWEN2("tiny-qwen2"),
  TINY_QWEN3("tiny-qwen3"),
  QWEN2_5_0_5B("qwen2.5-0.5b"),
  QWEN2_5_3B("qwen2.5-3b"),
  QWEN3_0_6B("qwen3-0.6b");

  /** Special tokens of the tiny byte-level tokenizer, ids 256, 257, 258. */
  public static final String[] TINY_SPECIAL_TOKENS = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

  private final String id;

  ModelPreset(String id) {
    this.id = id;
  }

  public String id() {
    return id;
  }

  /** Whether the preset ships the real Qwen3 tokenizer (else the tiny byte-level one). */
  public boolean usesQwenTokenizer() {
    return this == QWEN2_5_0_5B || this == QWEN2_5_3B || this == QWEN3_0_6B;
  }

  public ModelConfig config() {
    int tinyVocab = 256 + TINY_SPECIAL_TOKENS.length;
    int[] tinyEos = {256, 258};
    int[] qwenEos = {151643, 151645};
    return switch (this) {
      case TINY_LLAMA -> new ModelConfig(Architecture.LLAMA, tinyVocab, 64, 160, 2, 4, 2, 16,
          1e-5, 10000, 2048, false, false, -1, tinyEos);
      case TINY_QWEN2 -> new ModelConfig(Architecture.QWEN2, tinyVocab, 64, 160, 2, 4, 2, 16,
          1e-6, 1_000_000, 2048, true, false, -1, tinyEos);
      case TINY_QWEN3 -> new ModelConfig(Architecture.QWEN3, tinyVocab, 64, 160, 2, 4, 1, 32,
          1e-6, 1_000_000, 2048, true, false, -1, tinyEos);
      // Shapes from the published config.json files of Qwen2.5-0.5B, Qwen2.5-3B and Qwen3-0.6B.
      case QWEN2_5_0_5B -> new ModelConfig(Architecture.QWEN2, 151936, 896, 4864, 24, 14, 2, 64,
          1e-6, 1_000_000, 32768, true, false, 151643, qwenEos);
      case QWEN2_5_3B -> new ModelConfig(Architecture.QWEN2, 151936, 2048, 11008, 36, 16, 2, 128,
          1e-6, 1_000_000, 32768, true, false, 151643, qwenEos);
      case QWEN3_0_6B -> new ModelConfig(Architecture.QWEN3, 151936, 1024, 3072, 28, 16, 8, 128,
          1e-6, 1_000_000, 40960, true, false, 151643, qwenEos);
    };
  }

  public static ModelPreset byId(String id) {
    for (ModelPreset p : values()) {
      if (p.id.equals(id)) {
        return p;
      }
    }
    throw new TreeRollException("unknown model preset '" + id + "'; valid: "
        + Arrays.stream(values()).map(ModelPreset::id).collect(Collectors.joining(", ")));
  }
}
