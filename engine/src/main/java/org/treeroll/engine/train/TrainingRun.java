package org.treeroll.engine.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.TreeRollException;

/**
 * Trains a model from scratch and writes it as a HF directory the engine loads
 * ({@code LoadedModel.open}): config.json, model.safetensors, tokenizer.json (byte-level, with
 * {@code <|endoftext|>} as EOS), tokenizer_config.json, generation_config.json, plus
 * training-log.csv (one row per step, written as training goes) and training-loss.svg.
 */
public final class TrainingRun {
  public static final String LOG_FILE = "training-log.csv";
  public static final String SVG_FILE = "training-loss.svg";

  private TrainingRun() {}

  public static Trainer.Result run(TrainConfig config, Path out, DType dtype, Trainer.Listener listener) {
    return run(config, out, dtype, listener, 0);
  }

  /**
   * As {@link #run(TrainConfig, Path, DType, Trainer.Listener)}; with {@code checkpointEvery} > 0
   * also writes the weights so far to {@code out/checkpoint-<step>} every that many steps.
   */
  public static Trainer.Result run(TrainConfig config, Path out, DType dtype, Trainer.Listener listener,
      int checkpointEvery) {
    try {
      Files.createDirectories(out);
    } catch (IOException e) {
      throw new TreeRollException(out + ": cannot create directory: " + e.getMessage(), e);
    }
    // A run killed while drawing left the plot's temporary file; RandomModelWriter cleans the model's.
    AtomicFile.removeStale(out, List.of(SVG_FILE));
    Path log = out.resolve(LOG_FILE);
    long start = System.nanoTime();
    Trainer.Result result;
    try (BufferedWriter w = Files.newBufferedWriter(log)) {
      w.write("step,loss,learning_rate,grad_norm,seconds\n");
      result = Trainer.train(config, (step, loss, lr, norm) -> {
        try {
          w.write(String.format(Locale.ROOT, "%d,%.5f,%.6g,%.4f,%.1f%n", step + 1, loss, lr, norm,
              (System.nanoTime() - start) / 1e9));
          w.flush();
        } catch (IOException e) {
          throw new TreeRollException(log + ": cannot write: " + e.getMessage(), e);
        }
        if (listener != null) {
          listener.onStep(step, loss, lr, norm);
        }
      }, checkpointEvery, (step, tensors) -> RandomModelWriter.writeDirectory(
          out.resolve("checkpoint-" + step), config.model(), tensors, dtype, Map.of("format", "pt"),
          List.of(ModelPreset.TINY_SPECIAL_TOKENS)));
    } catch (IOException e) {
      throw new TreeRollException(log + ": cannot write: " + e.getMessage(), e);
    }
    Map<String, String> meta = Map.of(
        "format", "pt",
        "treeroll_task", "arithmetic",
        "treeroll_steps", Integer.toString(config.steps()),
        "treeroll_batch", Integer.toString(config.batch()),
        "treeroll_seed", Long.toString(config.seed()),
        "treeroll_level_weights", Arrays.toString(config.levelWeights()),
        "treeroll_final_loss", String.format(Locale.ROOT, "%.4f", result.finalLoss()));
    RandomModelWriter.writeDirectory(out, config.model(), result.weights().tensors(), dtype, meta,
        List.of(ModelPreset.TINY_SPECIAL_TOKENS));
    LossCurveSvg.write(out.resolve(SVG_FILE), result.losses(), String.format(Locale.ROOT,
        "Training loss: %d steps of %d sequences, final %.3f", config.steps(), config.batch(), result.finalLoss()));
    return result;
  }

  /** {@code TrainingRun <out> [steps] [batch] [seed] [checkpointEvery]}: for scripted runs without the CLI. */
  public static void main(String[] args) {
    TrainConfig c = TrainConfig.defaults();
    if (args.length > 1) {
      c = c.withSteps(Integer.parseInt(args[1]));
    }
    if (args.length > 2) {
      c = c.withBatch(Integer.parseInt(args[2]));
    }
    if (args.length > 3) {
      c = c.withSeed(Long.parseLong(args[3]));
    }
    int every = args.length > 4 ? Integer.parseInt(args[4]) : 0;
    Trainer.Result r = run(c, Path.of(args[0]), DType.F32, (step, loss, lr, norm) -> {
      if (step % 10 == 0) {
        System.out.printf(Locale.ROOT, "step %d loss %.4f lr %.2e norm %.3f%n", step + 1, loss, lr, norm);
      }
    }, every);
    System.out.printf(Locale.ROOT, "done: %.1f s, final loss %.4f%n", r.seconds(), r.finalLoss());
  }
}
