package org.treeroll.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.bench.DecodeBenchmark;
import org.treeroll.engine.bench.MachineLimits;
import org.treeroll.engine.runtime.DjlRuntime;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Benchmarks that print numbers next to this machine's measured limits. */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Decode throughput at several batch sizes against measured memory bandwidth and matmul limits.")
final class BenchCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--batches", split = ",", defaultValue = "1,8,32,64",
      description = "Batch sizes (default: ${DEFAULT-VALUE})")
  int[] batches;

  @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt length (default: ${DEFAULT-VALUE})")
  int promptTokens;

  @Option(names = "--steps", defaultValue = "12", description = "Timed decode steps per batch size; the median counts (default: ${DEFAULT-VALUE})")
  int steps;

  @Option(names = "--read-gb", defaultValue = "4", description = "Bytes streamed to measure memory bandwidth (default: ${DEFAULT-VALUE} GB)")
  double readGb;

  @Override
  public Integer call() {
    System.out.println("measuring machine limits...");
    MachineLimits limits = MachineLimits.measure(DjlRuntime.device(), (long) (readGb * 1e9));
    System.out.printf("memory read: %.1f GB/s (Java %.1f, PyTorch sum %.1f); fp32 matmul 2048^3: %.1f GFLOP/s%n",
        limits.memoryGBs(), limits.javaReadGBs(), limits.torchReadGBs(), limits.matmulGflops());
    System.gc(); // the bandwidth buffers are garbage now; don't collect them mid-benchmark
    try (LoadedModel lm = LoadedModel.open(model.resolve())) {
      System.out.printf("model: %s, %,d parameters, %.2f GB of fp32 weights read per decode step%n",
          lm.dir().getFileName(), lm.config().parameterCount(),
          4.0 * DecodeBenchmark.matmulParams(lm.config()) / 1e9);
      List<DecodeBenchmark.Row> rows =
          DecodeBenchmark.run(lm.model(), batches, promptTokens, steps, 1);
      System.out.println();
      System.out.println("| batch | context | ms/step | tokens/s | weights GB/s | % of memory BW | GFLOP/s | % of matmul |");
      System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (DecodeBenchmark.Row r : rows) {
        System.out.printf("| %d | %d | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.0f%% |%n",
            r.batch(), r.context(), r.msPerStep(), r.tokensPerSecond(), r.weightGBs(),
            100 * r.weightGBs() / limits.memoryGBs(), r.gflops(), 100 * r.gflops() / limits.matmulGflops());
      }
    }
    return 0;
  }
}
