package org.treeroll.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.rl.LearningCurve;
import org.treeroll.engine.rl.PolicyTrainer;
import org.treeroll.engine.rl.RlConfig;
import org.treeroll.engine.rl.RlPreset;
import org.treeroll.engine.rl.RlRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** RL on the arithmetic task in one JVM: engine rollouts, PPO-clip updates, in-memory weight pushes. */
@Command(name = "train-rl", mixinStandardHelpOptions = true,
    description = {
      "RL on the arithmetic task in one JVM: each step samples answers to train problems with the",
      "embedded engine (trees or independent), scores them (reward math), computes advantages,",
      "takes clipped policy-gradient steps (DJL autograd, AdamW) and pushes the new weights into",
      "the running engine. Writes metrics.jsonl and heldout-accuracy.svg under --out."})
final class TrainRlCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--config", defaultValue = "grpo-independent",
      description = "Preset: grpo-independent, treepo-trees, spo-trees, rose-trees (default: ${DEFAULT-VALUE})")
  String config;

  @Option(names = "--policy", description = "Branching policy spec, or 'independent' (default: the preset's)")
  String policy;

  @Option(names = "--estimator", description = "Advantage estimator spec (default: the preset's)")
  String estimator;

  @Option(names = "--steps", description = "Training steps at most (default: 100; no limit with --token-budget)")
  Integer steps;

  @Option(names = "--token-budget", defaultValue = "0",
      description = "Stop after the step whose sampled forward tokens reach this many; 0 for none (default: ${DEFAULT-VALUE})")
  long tokenBudget;

  @Option(names = "--problems-per-step", defaultValue = "64", description = "Train problems per step (default: ${DEFAULT-VALUE})")
  int problemsPerStep;

  @Option(names = "--answers", defaultValue = "4", description = "Answers per problem, N (default: ${DEFAULT-VALUE})")
  int answers;

  @Option(names = "--lr", defaultValue = "5e-5", description = "AdamW learning rate (default: ${DEFAULT-VALUE})")
  double lr;

  @Option(names = "--warmup", defaultValue = "5",
      description = "Steps over which the learning rate rises linearly to --lr (default: ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--decay", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Lower the learning rate along a cosine to a tenth of --lr by the end of the run (its"
          + " --token-budget, else its --steps); --no-decay keeps it (default: ${DEFAULT-VALUE})")
  boolean decay;

  @Option(names = "--epochs", defaultValue = "1",
      description = "Passes over each step's answers, PPO epochs (default: ${DEFAULT-VALUE})")
  int epochs;

  @Option(names = "--kl", defaultValue = "0",
      description = "Weight of the KL penalty to the initial model, k3 estimator; 0 for none (default: ${DEFAULT-VALUE})")
  double kl;

  @Option(names = "--filter-uniform", negatable = true, defaultValue = "true", fallbackValue = "true",
      description = "Leave out problems whose answers all got the same reward, DAPO's filter (default: ${DEFAULT-VALUE})")
  boolean filterUniform;

  @Option(names = "--clip", defaultValue = "0.2", description = "PPO ratio clip eps (default: ${DEFAULT-VALUE})")
  double clip;

  @Option(names = "--minibatches", defaultValue = "2",
      description = "Optimizer steps per batch of answers (default: ${DEFAULT-VALUE})")
  int minibatches;

  @Option(names = "--temperature", defaultValue = "1.0",
      description = "Sampling temperature, also of the trainer's log-probs and the held-out measurement (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--seed", defaultValue = "1", description = "Seed of the train problems and sampling (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--eval-every", defaultValue = "10", description = "Held-out accuracy every this many steps (default: ${DEFAULT-VALUE})")
  int evalEvery;

  @Option(names = "--eval-problems", defaultValue = "512", description = "Fixed held-out problems measured (default: ${DEFAULT-VALUE})")
  int evalProblems;

  @Option(names = "--max-mismatch", defaultValue = "1e-3",
      description = "Fail when a sampled token's |trainer - engine| log-prob exceeds this before an update (default: ${DEFAULT-VALUE})")
  double maxMismatch;

  @Option(names = "--threads", defaultValue = "1", description = "PyTorch intra-op threads of the trainer (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--out", description = "Output directory (default: .cache/train-rl/<config>)")
  Path out;

  @Option(names = "--save", description = "Also write the trained policy there as a model directory (F32 weights,"
      + " the model's config and tokenizer), loadable with --model")
  Path save;

  @Option(names = "--compare", arity = "1..*",
      description = "Only compare finished runs: each a run directory or a directory of seeds (averaged);"
          + " the first is the baseline. Draws --out/comparison.svg and prints a table")
  List<Path> compare;

  @Override
  public Integer call() {
    if (compare != null) {
      compare(compare, out != null ? out : Home.cache().resolve("train-rl"));
      return 0;
    }
    Cli.positive("--threads", threads);
    Cli.inRange("--token-budget", tokenBudget, 0, 1L << 40, "0 = no budget");
    Cli.inRange("--warmup", warmup, 0, 1_000_000, "");
    Cli.inRange("--epochs", epochs, 1, 100, "");
    Cli.inRange("--kl", kl, 0, 1e3);
    if (save != null) {
      PolicyTrainer.refuseExistingWeights(save);
    }
    RlPreset preset = RlPreset.byId(config);
    String pol = policy != null ? policy : preset.policy();
    String est = estimator != null ? estimator : preset.estimator();
    AdvantageEstimators.create(est); // refuse a bad spec before loading anything
    TreeRolloutConfig rollout = RlPreset.rollout(pol, answers);
    String name = policy == null && estimator == null ? preset.id() : pol + "+" + est;
    int maxSteps = steps != null ? steps : tokenBudget > 0 ? Integer.MAX_VALUE : 100;
    RlConfig c = new RlConfig(name, rollout, est, maxSteps, tokenBudget, problemsPerStep, seed, evalEvery, evalProblems,
        filterUniform, decay, new PolicyTrainer.Settings(lr, warmup, clip, temperature, minibatches, epochs, kl, maxMismatch));
    Path dir = out != null ? out : Home.cache().resolve("train-rl").resolve(name.replace(':', '_'));
    if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
      System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
    }
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(lm, 256L << 20);
        PolicyTrainer trainer = new PolicyTrainer(lm.config(), PolicyTrainer.checkpoint(lm), c.trainer())) {
      System.out.printf(Locale.ROOT, "train-rl %s: policy %s, estimator %s; %s%s x %d problems x %d answers%s,"
          + " lr %g (warmup %d%s), clip %.2f, %d minibatch(es) x %d epoch(s), kl %g, temperature %.2f, seed %d;"
          + " held-out: %d problems every %d steps%n",
          name, pol, est, maxSteps == Integer.MAX_VALUE ? "steps" : maxSteps + " steps",
          tokenBudget > 0 ? " until " + tokenBudget + " sampled tokens" : "", problemsPerStep,
          answers, filterUniform ? " (uniform groups filtered)" : "", lr, warmup, decay ? ", cosine decay" : "", clip, minibatches, epochs, kl,
          temperature, seed, evalProblems, evalEvery);
      System.out.println(" step  sampled_tokens  reward  trained  heldout  mismatch_max  mismatch_mean     loss"
          + "       kl  clipped  version  seconds");
      RlRun.run(c, session, trainer, dir, s -> System.out.printf(Locale.ROOT,
          "%5d  %14d  %6s  %7d  %7s  %12s  %13s  %7s  %7s  %7s  %7d  %7.1f%n", s.step(), s.sampledTokens(),
          num("%.3f", s.meanReward()), s.trainedAnswers(), num("%.3f", s.heldOutAccuracy()),
          num("%.2e", s.mismatchMax()), num("%.2e", s.mismatchMean()), num("%.4f", s.loss()), num("%.4f", s.kl()),
          num("%.3f", s.clipFraction()), s.weightVersion(), s.seconds()));
      if (save != null) {
        trainer.save(lm.dir(), save);
        System.out.println("wrote the trained policy to " + save);
      }
    }
    System.out.println("wrote " + dir.resolve(RlRun.METRICS) + " and " + dir.resolve(RlRun.PLOT));
    return 0;
  }

  /**
   * Draws the curves of finished runs (each a run directory, or a directory of seeds) into
   * {@code dir/comparison.svg} and prints each one's final accuracy and the tokens it took to reach
   * the first one's final accuracy (the first is the baseline).
   */
  private static void compare(List<Path> dirs, Path dir) {
    List<LearningCurve> curves = dirs.stream().map(LearningCurve::read).toList();
    Path file = dir.resolve("comparison.svg");
    RlRun.plot(file, curves, curves.size() == 1 ? curves.getFirst().label() : curves.size() + " configurations");
    LearningCurve baseline = curves.getFirst();
    double target = baseline.finalAccuracy();
    System.out.printf(Locale.ROOT, "%-28s %5s %14s %9s %17s %16s %9s%n", "configuration", "seeds", "sampled_tokens",
        "start", "final (min-max)", "tokens_to_" + String.format(Locale.ROOT, "%.3f", target), "vs_first");
    for (LearningCurve c : curves) {
      double reach = c.tokensToReach(target);
      System.out.printf(Locale.ROOT, "%-28s %5d %,14d %9.3f %6.3f (%.3f-%.3f) %16s %9s%n", c.label(), c.seeds(),
          c.finalTokens(), c.mean()[0], c.finalAccuracy(), c.low()[c.low().length - 1],
          c.high()[c.high().length - 1], Double.isNaN(reach) ? "not reached" : String.format(Locale.ROOT, "%,.0f", reach),
          Double.isNaN(reach) ? "-" : String.format(Locale.ROOT, "%.2f", reach / baseline.tokensToReach(target)));
    }
    System.out.println("wrote " + file);
  }

  private static String num(String format, double v) {
    return Double.isFinite(v) ? String.format(Locale.ROOT, format, v) : "-";
  }
}
