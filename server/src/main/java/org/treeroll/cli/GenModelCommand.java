package org.treeroll.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Writes a HF model directory with random weights of a preset shape. */
@Command(name = "gen-model", mixinStandardHelpOptions = true,
    description = "Write a model directory of a preset shape with random weights (deterministic from --seed).")
final class GenModelCommand implements Callable<Integer> {
  @Option(names = "--preset", required = true,
      description = "tiny-llama, tiny-qwen2, tiny-qwen3, qwen2.5-0.5b, qwen2.5-3b, qwen3-0.6b")
  String preset;

  @Option(names = "--out", required = true, description = "Directory to write")
  Path out;

  @Option(names = "--seed", defaultValue = "0", description = "Weight seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--dtype", defaultValue = "F32", description = "F32, F16 or BF16 (default: ${DEFAULT-VALUE})")
  DType dtype;

  @Override
  public Integer call() {
    ModelPreset p = ModelPreset.byId(preset);
    RandomModelWriter.write(out, p, seed, dtype, Home.cache().resolve("tokenizers/qwen3"));
    System.out.printf("wrote %s: %s, %,d parameters, %s%n", out, p.id(), p.config().parameterCount(), dtype);
    return 0;
  }
}
