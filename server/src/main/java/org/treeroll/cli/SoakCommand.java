package org.treeroll.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.EngineStats;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Many rollouts in one JVM, watching for leaks: the process's resident memory, the heap after a
 * collection, and the engine's KV pages in use, sampled every K rollouts. Fails when RSS or heap of the last
 * quarter of the samples sits clearly above the second (the first quarter is warm-up).
 */
@Command(name = "soak", mixinStandardHelpOptions = true,
    description = "N tree rollouts in one JVM; prints RSS, heap and KV pages every K and fails if RSS or heap keep growing.")
final class SoakCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--rollouts", defaultValue = "1000", description = "Rollouts, one tree each (default: ${DEFAULT-VALUE})")
  int rollouts;

  @Option(names = "--every", defaultValue = "100", description = "Sample every this many rollouts (default: ${DEFAULT-VALUE})")
  int every;

  @Option(names = "--leaves", defaultValue = "8", description = "Answers per tree (default: ${DEFAULT-VALUE})")
  int leaves;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the problems and the sampling (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--max-growth-pct", defaultValue = "10",
      description = "Allowed growth of the last quarter's mean over the second quarter's (default: ${DEFAULT-VALUE}%)")
  double maxGrowthPct;

  /** Slack on top of the percentage: allocator and JIT noise, not a leak. */
  static final double RSS_SLACK_MB = 64;
  static final double HEAP_SLACK_MB = 16;

  record Sample(int rollouts, double rssMb, double heapMb, int pagesInUse, int cachedTokens) {}

  @Override
  public Integer call() {
    Cli.inRange("--rollouts", rollouts, 4, 10_000_000, "4 samples at least");
    Cli.inRange("--every", every, 1, rollouts / 4, "at least 4 samples: --rollouts / 4");
    Cli.count("--leaves", leaves);
    Cli.inRange("--max-growth-pct", maxGrowthPct, 0, 1000);
    TreeRolloutConfig cfg = new TreeRolloutConfig(8, 12, Math.min(2, leaves), leaves, 2, 96);
    ArithmeticTask task = ArithmeticTask.defaultMix();
    List<Sample> samples = new ArrayList<>();
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(lm, 256L << 20)) {
      System.out.printf("soak: %,d rollouts of %d answers on %s, sampled every %d%n", rollouts, leaves,
          lm.dir().getFileName(), every);
      System.out.println("| rollouts | RSS MB | heap MB (after GC) | KV pages in use | cached tokens |");
      System.out.println("|---:|---:|---:|---:|---:|");
      long start = System.nanoTime();
      for (int i = 0; i < rollouts; i++) {
        int[] prompt = lm.tokenizer().encodePrompt(task.problem(ArithmeticTask.Split.HELD_OUT, seed, i).prompt());
        SamplingParams params = SamplingParams.defaults().withSeed(seed + i);
        session.rollout(List.of(prompt), i, cfg, params, RolloutHooks.NONE).join();
        if ((i + 1) % every == 0) {
          Sample s = sample(i + 1, session.stats().join());
          samples.add(s);
          System.out.printf(Locale.ROOT, "| %d | %.1f | %.1f | %d | %d |%n", s.rollouts(), s.rssMb(), s.heapMb(),
              s.pagesInUse(), s.cachedTokens());
        }
      }
      System.out.printf(Locale.ROOT, "%.0f s for %,d rollouts%n", (System.nanoTime() - start) / 1e9, rollouts);
    }
    check(samples, "RSS", Sample::rssMb, RSS_SLACK_MB, "MB");
    check(samples, "heap after GC", Sample::heapMb, HEAP_SLACK_MB, "MB");
    // KV pages are printed, not gated: pages in use include the prefix cache, which fills up to
    // the budget and then evicts, so their growth early on is the cache, not a leak.
    System.out.println("soak: no growth past " + maxGrowthPct + "% between the second and the last quarter");
    return 0;
  }

  private void check(List<Sample> samples, String what, ToDoubleFunction<Sample> f, double slack, String unit) {
    int q = samples.size() / 4;
    double second = samples.subList(q, 2 * q).stream().mapToDouble(f).average().orElse(0);
    double last = samples.subList(samples.size() - q, samples.size()).stream().mapToDouble(f).average().orElse(0);
    if (last > second * (1 + maxGrowthPct / 100) + slack) {
      throw new TreeRollException(String.format(Locale.ROOT, "soak: %s grew from %.1f %s (mean of the second quarter)"
          + " to %.1f %s (last quarter), more than --max-growth-pct %.0f%% + %.0f %s", what, second, unit, last, unit,
          maxGrowthPct, slack, unit));
    }
  }

  private static Sample sample(int n, EngineStats stats) {
    System.gc(); // the heap after a collection: what is still reachable, not garbage not yet collected
    Runtime rt = Runtime.getRuntime();
    double heapMb = (rt.totalMemory() - rt.freeMemory()) / 1048576.0;
    return new Sample(n, settledRssMb(), heapMb, stats.pagesInUse(), stats.cachedTokens());
  }

  /**
   * VmRSS once it stops falling: read every 100 ms until it has not dropped by more than 1 MB
   * for half a second, at most 5 s. G1 hands the regions a collection freed back to the OS on a
   * background thread, starting a moment later, so a reading right after {@code System.gc()} may
   * still count them (a 0.5B model right after its load: 1447 MiB in one run, 1203 in another).
   */
  static double settledRssMb() {
    double low = rssMb();
    for (int i = 0, stable = 0; i < 50 && stable < 5 && !Double.isNaN(low); i++) {
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      double now = rssMb();
      stable = now < low - 1 ? 0 : stable + 1;
      low = Math.min(low, now);
    }
    return low;
  }

  /** VmRSS from /proc/self/status (Linux); NaN elsewhere. */
  static double rssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // not Linux: no RSS
    }
    return Double.NaN;
  }
}
