package org.treeroll.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import picocli.CommandLine.Option;

/** {@code --model}: a HF model directory, or the name of a preset generated on first use. */
final class ModelOption {
  /** The bundled default model, trained on the arithmetic task (docs/model.md). */
  static final String BUNDLED = "treeroll-arith";

  // No annotation default: picocli takes the field's initial value, so a command can choose its own.
  @Option(names = {"-m", "--model"},
      description = "HF model directory, the bundled " + BUNDLED + ", or a generated preset: tiny-llama,"
          + " tiny-qwen2, tiny-qwen3, qwen2.5-0.5b, qwen2.5-3b, qwen3-0.6b (default: ${DEFAULT-VALUE})")
  String model;

  @Option(names = "--model-seed", defaultValue = "0", description = "Seed of a generated preset's weights")
  long modelSeed;

  ModelOption() {
    this(BUNDLED);
  }

  /** For a command whose default must be another model (one with a longer context, say). */
  ModelOption(String defaultModel) {
    this.model = defaultModel;
  }

  /** The model directory, generating a preset's into the cache when needed. */
  Path resolve() {
    if (model.equals(BUNDLED)) {
      return Home.root().resolve("models").resolve(BUNDLED);
    }
    boolean isPreset = Arrays.stream(ModelPreset.values()).anyMatch(p -> p.id().equals(model));
    if (!isPreset) {
      return Path.of(model);
    }
    return ensurePreset(ModelPreset.byId(model), modelSeed);
  }

  static Path ensurePreset(ModelPreset preset, long seed) {
    Path dir = Home.cache().resolve("models").resolve(preset.id() + "-seed" + seed);
    if (!Files.isRegularFile(dir.resolve("model.safetensors"))) {
      System.err.println("treeroll: generating " + preset.id() + " (random weights, seed " + seed + ") in " + dir);
      // Large shapes are stored as BF16 to halve disk and load time; tiny ones exactly.
      DType dtype = preset.usesQwenTokenizer() ? DType.BF16 : DType.F32;
      RandomModelWriter.write(dir, preset, seed, dtype, Home.cache().resolve("tokenizers/qwen3"));
    }
    return dir;
  }
}
