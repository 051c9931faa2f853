package org.treeroll.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.task.ArithmeticEval;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.engine.train.TrainConfig;
import org.treeroll.engine.train.Trainer;
import org.treeroll.engine.train.TrainingRun;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Trains the default arithmetic model from scratch (the recipe of models/treeroll-arith). */
@Command(name = "train-model", mixinStandardHelpOptions = true,
    description = {
      "Train a small decoder from scratch on the arithmetic task (DJL autograd, CPU) and write it",
      "as a HF model directory, with its loss log (CSV) and curve (SVG). The defaults re-create",
      "models/treeroll-arith; afterwards the held-out accuracy at temperature 1 is measured."})
final class TrainModelCommand implements Callable<Integer> {
  @Option(names = "--out", required = true, description = "Directory to write")
  Path out;

  @Option(names = "--steps", description = "Optimizer steps (default: 1000)")
  Integer steps;

  @Option(names = "--batch", description = "Sequences per step (default: 32)")
  Integer batch;

  @Option(names = "--seed", description = "Seed of the initial weights and the training problems (default: 1)")
  Long seed;

  @Option(names = "--lr", description = "Peak learning rate (default: 2e-3)")
  Double lr;

  @Option(names = "--warmup", description = "Linear warmup steps before the cosine decay (default: 60)")
  Integer warmup;

  @Option(names = "--levels", split = ",",
      description = "Relative weights of difficulty levels 1..4 in the training mix (default: 1,1,1,1)")
  double[] levels;

  @Option(names = "--dtype", defaultValue = "F32", description = "Weight dtype on disk: F32, F16 or BF16 (default: ${DEFAULT-VALUE})")
  DType dtype;

  @Option(names = "--threads", defaultValue = "1",
      description = "PyTorch intra-op threads (default: ${DEFAULT-VALUE}; the model is small, more threads rarely help)")
  int threads;

  @Option(names = "--eval", defaultValue = "128",
      description = "Held-out problems to measure accuracy on afterwards, 0 to skip (default: ${DEFAULT-VALUE})")
  int eval;

  @Option(names = "--checkpoint-every", defaultValue = "0",
      description = "Also write the weights so far to <out>/checkpoint-<step> every this many steps (default: never)")
  int checkpointEvery;

  /** More steps than this would train for weeks on a CPU: a typo, not a plan. */
  static final int MAX_STEPS = 10_000_000;

  private void checkNumbers() {
    if (steps != null) {
      Cli.inRange("--steps", steps, 1, MAX_STEPS, "");
    }
    if (batch != null) {
      Cli.inRange("--batch", batch, 1, Cli.MAX_PARALLEL, "");
    }
    if (lr != null && !(lr > 0 && lr <= 1)) {
      throw new TreeRollException("--lr must be in (0, 1], got " + lr);
    }
    if (warmup != null) {
      Cli.inRange("--warmup", warmup, 0, steps != null ? steps : MAX_STEPS, "at most --steps");
    }
    if (levels != null) {
      for (double w : levels) {
        Cli.inRange("--levels", w, 0, 1e6);
      }
    }
    Cli.inRange("--threads", threads, 1, Cli.MAX_PARALLEL, "");
    Cli.inRange("--eval", eval, 0, Cli.MAX_COUNT, "0 skips it");
    Cli.inRange("--checkpoint-every", checkpointEvery, 0, MAX_STEPS, "0 = never");
  }

  @Override
  public Integer call() {
    checkNumbers();
    TrainConfig c = TrainConfig.defaults();
    if (steps != null) {
      c = c.withSteps(steps);
    }
    if (batch != null) {
      c = c.withBatch(batch);
    }
    if (seed != null) {
      c = c.withSeed(seed);
    }
    if (lr != null) {
      c = c.withLearningRate(lr);
    }
    if (warmup != null) {
      c = c.withWarmupSteps(warmup);
    }
    if (levels != null) {
      new ArithmeticTask(levels); // validates
      c = c.withLevelWeights(levels);
    }
    if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
      System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
    }
    System.out.printf(Locale.ROOT, "training %s: %,d parameters, %d steps of %d sequences, seed %d%n",
        c.model().architecture().hfName(), c.model().parameterCount(), c.steps(), c.batch(), c.seed());
    Trainer.Result r;
    try (ProgressBar bar = new ProgressBarBuilder().setTaskName("train").setInitialMax(c.steps())
        .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate().build()) {
      r = TrainingRun.run(c, out, dtype, (step, loss, rate, norm) -> {
        bar.stepTo(step + 1);
        bar.setExtraMessage(String.format(Locale.ROOT, "loss %.3f", loss));
      }, checkpointEvery);
    }
    System.out.printf(Locale.ROOT, "wrote %s in %.0f s; final loss %.4f (mean of the last 50 steps)%n",
        out, r.seconds(), r.finalLoss());
    if (r.skippedSteps() > 0) {
      System.out.printf("%d step(s) skipped: their gradient was not finite%n", r.skippedSteps());
    }
    if (eval > 0) {
      try (LoadedModel model = LoadedModel.open(out)) {
        ArithmeticEval.Result e = ArithmeticEval.heldOut(model, new ArithmeticTask(c.levelWeights()),
            ArithmeticEval.DEFAULT_PROBLEM_SEED, eval, 1.0, ArithmeticEval.DEFAULT_SAMPLING_SEED);
        System.out.printf(Locale.ROOT, "held-out accuracy at temperature 1: %d/%d = %.3f%n",
            e.correct(), e.total(), e.accuracy());
      }
    }
    return 0;
  }
}
