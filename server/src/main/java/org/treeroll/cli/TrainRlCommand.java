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
import org.treeroll.engine.rl.AccuracyCurveSvg;
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

  @Option(names = "--steps", defaultValue = "20", description = "Training steps (default: ${DEFAULT-VALUE})")
  int steps;

  @Option(names = "--problems-per-step", defaultValue = "8", description = "Train problems per step (default: ${DEFAULT-VALUE})")
  int problemsPerStep;

  @Option(names = "--answers", defaultValue = "8", description = "Answers per problem, N (default: ${DEFAULT-VALUE})")
  int answers;

  @Option(names = "--lr", defaultValue = "2e-5", description = "AdamW learning rate (default: ${DEFAULT-VALUE})")
  double lr;

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

  @Option(names = "--eval-every", defaultValue = "5", description = "Held-out accuracy every this many steps (default: ${DEFAULT-VALUE})")
  int evalEvery;

  @Option(names = "--eval-problems", defaultValue = "128", description = "Fixed held-out problems measured (default: ${DEFAULT-VALUE})")
  int evalProblems;

  @Option(names = "--max-mismatch", defaultValue = "1e-3",
      description = "Fail when a sampled token's |trainer - engine| log-prob exceeds this before an update (default: ${DEFAULT-VALUE})")
  double maxMismatch;

  @Option(names = "--threads", defaultValue = "1", description = "PyTorch intra-op threads of the trainer (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--out", description = "Output directory (default: .cache/train-rl/<config>)")
  Path out;

  @Option(names = "--compare", arity = "1..*",
      description = "Only draw the held-out curves of these finished run directories into --out/comparison.svg")
  List<Path> compare;

  @Override
  public Integer call() {
    if (compare != null) {
      Path dir = out != null ? out : Home.cache().resolve("train-rl");
      List<AccuracyCurveSvg.Series> series = new ArrayList<>();
      compare.forEach(d -> series.add(RlRun.readSeries(d)));
      Path file = dir.resolve("comparison.svg");
      RlRun.plot(file, series, compare.size() + " runs");
      System.out.println("wrote " + file);
      return 0;
    }
    Cli.positive("--threads", threads);
    RlPreset preset = RlPreset.byId(config);
    String pol = policy != null ? policy : preset.policy();
    String est = estimator != null ? estimator : preset.estimator();
    AdvantageEstimators.create(est); // refuse a bad spec before loading anything
    TreeRolloutConfig rollout = RlPreset.rollout(pol, answers);
    String name = policy == null && estimator == null ? preset.id() : pol + "+" + est;
    RlConfig c = new RlConfig(name, rollout, est, steps, problemsPerStep, seed, evalEvery, evalProblems,
        new PolicyTrainer.Settings(lr, clip, temperature, minibatches, maxMismatch));
    Path dir = out != null ? out : Home.cache().resolve("train-rl").resolve(name.replace(':', '_'));
    if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
      System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
    }
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(lm, 256L << 20);
        PolicyTrainer trainer = new PolicyTrainer(lm.config(), PolicyTrainer.checkpoint(lm), c.trainer())) {
      System.out.printf(Locale.ROOT, "train-rl %s: policy %s, estimator %s; %d steps x %d problems x %d answers,"
          + " lr %g, clip %.2f, %d minibatch(es), temperature %.2f, seed %d; held-out: %d problems every %d steps%n",
          name, pol, est, steps, problemsPerStep, answers, lr, clip, minibatches, temperature, seed, evalProblems,
          evalEvery);
      System.out.println(" step  sampled_tokens  reward  heldout  mismatch_max  mismatch_mean     loss  version  seconds");
      RlRun.run(c, session, trainer, dir, s -> System.out.printf(Locale.ROOT,
          "%5d  %14d  %6s  %7s  %12s  %13s  %7s  %7d  %7.1f%n", s.step(), s.sampledTokens(),
          num("%.3f", s.meanReward()), num("%.3f", s.heldOutAccuracy()), num("%.2e", s.mismatchMax()),
          num("%.2e", s.mismatchMean()), num("%.4f", s.loss()), s.weightVersion(), s.seconds()));
    }
    System.out.println("wrote " + dir.resolve(RlRun.METRICS) + " and " + dir.resolve(RlRun.PLOT));
    return 0;
  }

  private static String num(String format, double v) {
    return Double.isFinite(v) ? String.format(Locale.ROOT, format, v) : "-";
  }
}
