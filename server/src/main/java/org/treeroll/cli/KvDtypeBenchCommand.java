package org.treeroll.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.bench.KvDtypeBenchmark;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.task.ArithmeticTask;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code treeroll bench kv-dtype}: the log-prob difference 16-bit KV pages cause. */
@Command(name = "kv-dtype", mixinStandardHelpOptions = true,
    description = "Trees sampled with each KV page type; every answer's recorded log-probs against the answer"
        + " rescored alone over fp32 KV pages: max and mean |difference|.")
final class KvDtypeBenchCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--kv-dtype", split = ",", defaultValue = "f32,bf16", paramLabel = "f32|bf16",
      description = "KV page types, one rollout each (default: ${DEFAULT-VALUE})")
  List<KvDtype> kvDtypes;

  @Option(names = "--prompts", defaultValue = "16",
      description = "Prompts: held-out arithmetic problems on " + ModelOption.BUNDLED + " (a model directory of that"
          + " name), random token ids on any other model (default: ${DEFAULT-VALUE})")
  int prompts;

  @Option(names = "--prompt-tokens", defaultValue = "32",
      description = "Length of the random prompts on models other than " + ModelOption.BUNDLED + " (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--leaves", defaultValue = "16", description = "Answers per prompt, N (default: ${DEFAULT-VALUE})")
  int leaves;

  @Option(names = "--segment", defaultValue = "8", description = "Tokens per segment (default: ${DEFAULT-VALUE})")
  int segment;

  @Option(names = "--depth", defaultValue = "12", description = "Segments per answer at most (default: ${DEFAULT-VALUE})")
  int depth;

  @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the prompts and of sampling (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--kv-budget-mb", defaultValue = "256", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
  long kvBudgetMb;

  @Override
  public Integer call() {
    Cli.count("--prompts", prompts);
    Cli.count("--prompt-tokens", promptTokens);
    Cli.count("--leaves", leaves);
    Cli.count("--segment", segment);
    Cli.count("--depth", depth);
    Cli.inRange("--temperature", temperature, 0, SamplingOptions.MAX_TEMPERATURE);
    long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
    try (LoadedModel lm = LoadedModel.open(model.resolve())) {
      String name = lm.dir().getFileName().toString();
      boolean arithmetic = name.equals(ModelOption.BUNDLED);
      Cli.answerFitsContext(segment, depth, lm.config(), name);
      List<int[]> ps = new ArrayList<>();
      if (arithmetic) {
        for (ArithmeticTask.Problem p : ArithmeticTask.defaultMix().problems(ArithmeticTask.Split.HELD_OUT, seed, prompts)) {
          ps.add(lm.tokenizer().encodePrompt(p.prompt()));
        }
      } else {
        Cli.withinContext("--prompt-tokens + --segment x --depth", (long) promptTokens + (long) segment * depth,
            lm.config(), name);
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < prompts; i++) {
          ps.add(rng.ints(promptTokens, 0, lm.config().vocabSize()).toArray());
        }
      }
      TreeRolloutConfig cfg = new TreeRolloutConfig(segment, depth, 2, leaves, 2, segment * depth);
      // Random weights rarely sample EOS; ignoring it everywhere keeps both runs' answers full length.
      SamplingParams params = SamplingParams.defaults().withTemperature(temperature).withSeed(seed)
          .withIgnoreEos(!arithmetic);
      System.out.printf("model %s (%s weights), %d %s x %d answers, segments of %d tokens, depth %d, temperature %s,"
              + " seed %d; KV budget %d MB%n", name, lm.model().weightType(), prompts,
          arithmetic ? "held-out arithmetic problems" : "random prompts of " + promptTokens + " tokens", leaves, segment,
          depth, temperature, seed, kvBudgetMb);
      List<KvDtypeBenchmark.Row> rows = KvDtypeBenchmark.run(lm, ps, cfg, params, kvBytes, kvDtypes);
      System.out.println();
      System.out.println("| KV pages | pages in the budget | answers | response tokens | max abs(recorded - rescored"
          + " over f32 KV) | mean | rollout s |");
      System.out.println("|---|---:|---:|---:|---:|---:|---:|");
      for (KvDtypeBenchmark.Row r : rows) {
        System.out.printf("| %s | %,d | %d | %,d | %.2e | %.2e | %.1f |%n", r.kv(), r.pages(), r.answers(),
            r.diff().tokens(), r.diff().maxAbs(), r.diff().meanAbs(), r.seconds());
      }
    }
    return 0;
  }
}
