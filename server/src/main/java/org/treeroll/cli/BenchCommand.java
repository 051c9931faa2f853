package org.treeroll.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.bench.DecodeBenchmark;
import org.treeroll.engine.bench.MachineLimits;
import org.treeroll.engine.bench.TreeBenchmark;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Benchmarks: commands that print numbers (never tests with timing assertions). */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Benchmarks that print tables.",
    subcommands = {BenchCommand.Decode.class, BenchCommand.Tree.class})
final class BenchCommand {

  @Command(name = "decode", mixinStandardHelpOptions = true,
      description = "Decode throughput at several batch sizes against measured memory bandwidth and matmul limits.")
  static final class Decode implements Callable<Integer> {
    @Mixin ModelOption model = new ModelOption();

    @Option(names = "--batches", split = ",", defaultValue = "1,8,32,64",
        description = "Batch sizes (default: ${DEFAULT-VALUE})")
    int[] batches;

    @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt length (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--steps", defaultValue = "12", description = "Timed decode steps per batch size; the median counts (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--read-gb", defaultValue = "2", description = "Bytes streamed to measure memory bandwidth (default: ${DEFAULT-VALUE} GB)")
    double readGb;

    @Override
    public Integer call() {
      try (MachineLimits.Probe probe = new MachineLimits.Probe(DjlRuntime.device(), (long) (readGb * 1e9));
          LoadedModel lm = LoadedModel.open(model.resolve())) {
        System.out.printf("model: %s, %,d parameters, %.2f GB of fp32 weights read per decode step%n",
            lm.dir().getFileName(), lm.config().parameterCount(),
            4.0 * DecodeBenchmark.matmulParams(lm.config()) / 1e9);
        System.out.println("machine limits are measured again before each batch size's timed steps");
        List<DecodeBenchmark.Row> rows =
            DecodeBenchmark.run(lm.model(), batches, promptTokens, steps, 1, probe::measure);
        System.out.println();
        System.out.println("| batch | context | ms/step | tokens/s | weights GB/s | memory read GB/s | % of memory BW | GFLOP/s | matmul GFLOP/s | % of matmul |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (DecodeBenchmark.Row r : rows) {
          System.out.printf("| %d | %d | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.0f%% |%n",
              r.batch(), r.context(), r.msPerStep(), r.tokensPerSecond(), r.weightGBs(),
              r.limits().memoryGBs(), 100 * r.memoryShare(), r.gflops(), r.limits().matmulGflops(),
              100 * r.matmulShare());
        }
      }
      return 0;
    }
  }

  @Command(name = "tree", mixinStandardHelpOptions = true,
      description = "Tree rollouts vs independent sampling at equal leaf counts.")
  static final class Tree implements Callable<Integer> {
    @Mixin ModelOption model = new ModelOption();

    @Option(names = "--leaves", split = ",", defaultValue = "8,16,32", description = "Answers per prompt (default: ${DEFAULT-VALUE})")
    int[] leaves;

    @Option(names = "--prompts", defaultValue = "4", description = "Prompts per run (default: ${DEFAULT-VALUE})")
    int prompts;

    @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt length (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--segment", defaultValue = "16", description = "Tokens per segment (default: ${DEFAULT-VALUE})")
    int segment;

    @Option(names = "--depth", defaultValue = "8", description = "Segments per answer (default: ${DEFAULT-VALUE})")
    int depth;

    @Option(names = "--policy", defaultValue = "late",
        description = "late: one path, doubling over the last log2(N) segments; or any branching policy spec, e.g. treepo (2 paths from the root, b = 2) (default: ${DEFAULT-VALUE})")
    String policy;

    @Option(names = "--kv-budget-mb", defaultValue = "2048", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
    long kvBudgetMb;

    @Override
    public Integer call() {
      try (LoadedModel lm = LoadedModel.open(model.resolve())) {
        System.out.printf("model: %s; %d prompts of %d tokens; answers of %d segments x %d tokens; policy %s%n",
            lm.dir().getFileName(), prompts, promptTokens, depth, segment, policy);
        System.out.println();
        System.out.println("| N | tree tokens | independent tokens | token ratio | tree s | independent s | time ratio | tree KV hit | independent KV hit | tree peak KV MB | independent peak KV MB |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int n : leaves) {
          TreeBenchmark.Row r = TreeBenchmark.compare(lm.model(), kvBudgetMb << 20, prompts, promptTokens,
              config(n), 1);
          System.out.printf("| %d | %,d | %,d | %.2f | %.1f | %.1f | %.2f | %.0f%% | %.0f%% | %.1f | %.1f |%n", n,
              r.tree().computedTokens(), r.independent().computedTokens(), r.tokenRatio(),
              r.tree().seconds(), r.independent().seconds(), r.timeRatio(),
              100 * r.tree().hitRate(), 100 * r.independent().hitRate(),
              r.tree().peakKvBytes() / 1e6, r.independent().peakKvBytes() / 1e6);
        }
      }
      return 0;
    }

    private TreeRolloutConfig config(int n) {
      if (!policy.equals("late")) {
        return new TreeRolloutConfig(segment, depth, Math.min(2, n), n, 2, segment * depth).withPolicy(policy);
      }
      int forks = 32 - Integer.numberOfLeadingZeros(n - 1); // ceil(log2 n)
      if (forks >= depth) {
        throw new TreeRollException("--depth " + depth + " is too shallow to fork " + n + " ways late");
      }
      String depths = String.join("/", IntStream.range(depth - forks, depth).mapToObj(String::valueOf).toList());
      return new TreeRolloutConfig(segment, depth, 1, n, 2, segment * depth).withPolicy("fixed:depths=" + depths);
    }
  }
}
