package org.treeroll.cli;

import java.util.Locale;
import java.util.concurrent.Callable;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.task.ArithmeticEval;
import org.treeroll.engine.task.ArithmeticTask;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Held-out accuracy of independent answers, one per problem: the measurement of docs/model.md,
 * beside which the demo's tree accuracy can be read.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Held-out arithmetic accuracy: one independently sampled answer per problem, verified.")
final class EvalCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();
  @Mixin WeightsOption weights = new WeightsOption();

  @Option(names = "--problems", defaultValue = "128", description = "Held-out problems (default: ${DEFAULT-VALUE})")
  int problems;

  @Option(names = "--problem-seed", defaultValue = "" + ArithmeticEval.DEFAULT_PROBLEM_SEED,
      description = "Seed of the problems (default: ${DEFAULT-VALUE}; the demo's --seed S asks those of seed S)")
  long problemSeed;

  @Option(names = "--seed", defaultValue = "" + ArithmeticEval.DEFAULT_SAMPLING_SEED,
      description = "Sampling seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--answers", defaultValue = "1",
      description = "Independent answers per problem; answer k is sampled with seed --seed + k (default: ${DEFAULT-VALUE})")
  int answers;

  @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature (default: ${DEFAULT-VALUE})")
  double temperature;

  @Override
  public Integer call() {
    Cli.count("--problems", problems);
    Cli.count("--answers", answers);
    Cli.inRange("--temperature", temperature, 0, SamplingOptions.MAX_TEMPERATURE);
    int levels = ArithmeticTask.Level.values().length;
    int[] correct = new int[levels];
    int[] total = new int[levels];
    try (LoadedModel lm = LoadedModel.open(model.resolve(), weights.precision());
        InferenceSession session = new InferenceSession(lm, 64L << 20)) {
      for (int k = 0; k < answers; k++) {
        ArithmeticEval.Result r = ArithmeticEval.heldOut(session, ArithmeticTask.defaultMix(), problemSeed, problems,
            temperature, seed + k);
        for (int l = 0; l < levels; l++) {
          correct[l] += r.correctByLevel()[l];
          total[l] += r.totalByLevel()[l];
        }
      }
    }
    int right = java.util.Arrays.stream(correct).sum();
    int all = java.util.Arrays.stream(total).sum();
    StringBuilder byLevel = new StringBuilder();
    for (int l = 0; l < levels; l++) {
      byLevel.append(String.format(Locale.ROOT, " %.2f", total[l] == 0 ? Double.NaN : (double) correct[l] / total[l]));
    }
    System.out.printf(Locale.ROOT, "held-out accuracy (%d problems of problem seed %d x %d independent answers,"
        + " sampling seed %d, temperature %s): %d/%d = %.3f; by level 1-%d:%s%n", problems, problemSeed, answers, seed,
        temperature, right, all, (double) right / all, levels, byLevel);
    return 0;
  }
}
