package org.treeroll.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.runtime.WeightPrecision;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.bench.DecodeBenchmark;
import org.treeroll.engine.bench.MachineLimits;
import org.treeroll.engine.bench.SharedPrefixBenchmark;
import org.treeroll.engine.bench.TreeBenchmark;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Benchmarks: commands that print numbers (never tests with timing assertions). */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Benchmarks that print tables.",
    subcommands = {BenchCommand.Decode.class, BenchCommand.Tree.class, BenchCommand.SharedPrefix.class,
        BenchCommand.Server.class, SoakCommand.class, ClusterBenchCommand.class,
        KvDtypeBenchCommand.class, LoadMemoryCommand.class})
final class BenchCommand {
  /** Timed steps per batch size at most: the median settles long before. */
  static final int MAX_STEPS = 10_000;
  static final int MAX_CONTEXT = 1 << 20;
  static final int MAX_ROUNDS = 100;

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

    @Option(names = "--weights", defaultValue = "both",
        description = "as-stored (16-bit checkpoints stay 16-bit), fp32 (widened at load), bf16 (fp32 checkpoints"
            + " rounded at load), or both (as-stored and fp32), loaded together and taking turns (default: ${DEFAULT-VALUE})")
    String weights;

    @Option(names = "--rounds", defaultValue = "3",
        description = "Rounds per batch size, the models taking turns with --weights both; each row is the median"
            + " step over all its rounds (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--batch-invariant", defaultValue = "off",
        description = "off, on (batch-invariant decoding: every step in fixed order), or both, one after the other,"
            + " to measure its cost (default: ${DEFAULT-VALUE})")
    String batchInvariant;

    @Option(names = "--kv-dtype", split = ",", defaultValue = "f32", paramLabel = "f32|bf16",
        description = "How KV pages store keys and values, one run each, e.g. f32,bf16 (default: ${DEFAULT-VALUE})")
    List<KvDtype> kvDtypes;

    @Option(names = "--read-gb", defaultValue = "2", description = "Bytes streamed to measure memory bandwidth (default: ${DEFAULT-VALUE} GB)")
    double readGb;

    @Override
    public Integer call() {
      for (int b : batches) {
        Cli.inRange("--batches", b, 1, Cli.MAX_PARALLEL, "");
      }
      Cli.inRange("--steps", steps, 1, MAX_STEPS, "");
      Cli.inRange("--rounds", rounds, 1, MAX_ROUNDS, "");
      Cli.positive("--prompt-tokens", promptTokens);
      // The probe streams a buffer of this size in direct memory and another in PyTorch's.
      double maxGb = Math.floor(Runtime.getRuntime().maxMemory() / 2 / 1e7) / 100;
      if (!(readGb >= 0.01 && readGb <= maxGb)) {
        throw new TreeRollException("--read-gb must be in [0.01, " + maxGb + "] (half the heap), got " + readGb);
      }
      WeightPrecision one = WeightsOption.parse(weights);
      if (one == null && !weights.equals("both")) {
        throw new TreeRollException("--weights must be as-stored, fp32, bf16 or both, got '" + weights + "'");
      }
      List<WeightPrecision> runs = one != null ? List.of(one) : List.of(WeightPrecision.AS_STORED, WeightPrecision.FP32);
      List<Boolean> orders = switch (batchInvariant) {
        case "off" -> List.of(false);
        case "on" -> List.of(true);
        case "both" -> List.of(false, true);
        default -> throw new TreeRollException("--batch-invariant must be off, on or both, got '" + batchInvariant + "'");
      };
      Path dir = model.resolve();
      List<DecodeBenchmark.Row> rows = new ArrayList<>();
      List<LoadedModel> loaded = new ArrayList<>();
      try {
        for (WeightPrecision precision : runs) {
          // The model first: its context bounds the prompt before the probe allocates gigabytes.
          double before = SoakCommand.rssMb() * 1048576 / 1e9;
          LoadedModel lm = LoadedModel.open(dir, precision);
          loaded.add(lm);
          if (loaded.size() == 1) {
            Cli.withinContext("--prompt-tokens + --steps", (long) promptTokens + steps, lm.config(),
                lm.dir().getFileName().toString());
            System.out.printf("model: %s, %,d parameters, weight files %.2f GB%n", lm.dir().getFileName(),
                lm.config().parameterCount(), weightFileBytes(dir) / 1e9);
            // The first model only: later ones share the process with it.
            // LoadedModel.open has collected the load's garbage and trimmed the C heap.
            double after = SoakCommand.settledRssMb() * 1048576 / 1e9;
            double file = weightFileBytes(dir) / 1e9;
            System.out.printf("%s weights: resident memory %.2f GB before load, %.2f GB after (%.2fx the weight"
                    + " files); the load added %.2f GB (%.2fx), the tokenizer and any libraries it started included%n",
                lm.model().weightType(), before, after, after / file, after - before, (after - before) / file);
          }
        }
        System.out.println(rounds + (rounds == 1 ? " round" : " rounds") + " per batch size"
            + (loaded.size() > 1 ? ", the models taking turns" : "") + "; machine limits are measured before each round's timed steps");
        // The probe after the resident memory is read: it holds gigabytes of its own.
        try (MachineLimits.Probe probe = new MachineLimits.Probe(DjlRuntime.device(), (long) (readGb * 1e9))) {
          List<Model> models = loaded.stream().map(LoadedModel::model).toList();
          for (KvDtype kv : kvDtypes) {
            for (boolean invariant : orders) {
              rows.addAll(DecodeBenchmark.run(models, kv, batches, promptTokens, steps, rounds, 1, invariant, probe::measure));
            }
          }
        }
      } finally {
        for (LoadedModel lm : loaded) {
          lm.close();
        }
      }
      System.out.println();
      System.out.println("| weights | KV | batch-invariant | batch | context | ms/step | tokens/s | weights GB/s | memory read GB/s | % of memory BW | GFLOP/s | matmul GFLOP/s | % of matmul |");
      System.out.println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (DecodeBenchmark.Row r : rows) {
        System.out.printf("| %s | %s | %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.0f%% |%n",
            r.weights(), r.kv(), r.batchInvariant() ? "on" : "off", r.batch(), r.context(), r.msPerStep(), r.tokensPerSecond(), r.weightGBs(),
            r.limits().memoryGBs(), 100 * r.memoryShare(), r.gflops(), r.limits().matmulGflops(),
            100 * r.matmulShare());
      }
      printSpeedups(rows);
      printKvSpeedups(rows);
      printInvariantCost(rows);
      return 0;
    }

    /** Each batch size's tokens/s with batch-invariant decoding over without, where both ran. */
    private static void printInvariantCost(List<DecodeBenchmark.Row> rows) {
      for (DecodeBenchmark.Row on : rows) {
        for (DecodeBenchmark.Row off : rows) {
          if (on.batchInvariant() && !off.batchInvariant() && on.weights() == off.weights() && on.kv() == off.kv()
              && on.batch() == off.batch()) {
            System.out.printf("batch %d, %s: batch-invariant %.2fx the tokens/s of the default order%n", on.batch(),
                on.weights(), on.tokensPerSecond() / off.tokensPerSecond());
          }
        }
      }
    }

    /**
     * Each batch size's tokens/s with 16-bit KV pages over fp32 ones, where both ran: against the
     * latest fp32-KV row before it of the same shape, which ran on the same loaded model.
     */
    private static void printKvSpeedups(List<DecodeBenchmark.Row> rows) {
      for (int i = 0; i < rows.size(); i++) {
        DecodeBenchmark.Row half = rows.get(i);
        for (int j = i - 1; j >= 0 && half.kv() != KvDtype.F32; j--) {
          DecodeBenchmark.Row full = rows.get(j);
          if (full.kv() == KvDtype.F32 && full.batch() == half.batch() && full.weights() == half.weights()
              && full.batchInvariant() == half.batchInvariant()) {
            System.out.printf("batch %d, %s weights: %s KV %.2fx the tokens/s of f32 KV%n", half.batch(), half.weights(),
                half.kv(), half.tokensPerSecond() / full.tokensPerSecond());
            break;
          }
        }
      }
    }

    /** Each batch size's tokens/s with 16-bit weights over fp32, where both ran. */
    private static void printSpeedups(List<DecodeBenchmark.Row> rows) {
      for (DecodeBenchmark.Row half : rows) {
        if (half.weights() == DType.F32) {
          continue;
        }
        for (DecodeBenchmark.Row full : rows) {
          if (full.weights() == DType.F32 && full.batch() == half.batch() && full.kv() == half.kv()
              && full.batchInvariant() == half.batchInvariant()) {
            System.out.printf("batch %d: %s %.2fx the tokens/s of fp32%n", half.batch(), half.weights(),
                half.tokensPerSecond() / full.tokensPerSecond());
          }
        }
      }
    }

    static long weightFileBytes(Path dir) {
      try (var files = Files.list(dir)) {
        return files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).mapToLong(f -> f.toFile().length()).sum();
      } catch (IOException e) {
        throw new TreeRollException(dir + ": cannot list the weight files: " + e.getMessage(), e);
      }
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
      for (int n : leaves) {
        Cli.count("--leaves", n);
      }
      Cli.count("--prompts", prompts);
      Cli.count("--segment", segment);
      Cli.count("--depth", depth);
      Cli.positive("--prompt-tokens", promptTokens);
      long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
      try (LoadedModel lm = LoadedModel.open(model.resolve())) {
        String name = lm.dir().getFileName().toString();
        Cli.answerFitsContext(segment, depth, lm.config(), name);
        Cli.withinContext("--prompt-tokens + --segment x --depth", promptTokens + (long) segment * depth,
            lm.config(), name);
        System.out.printf("model: %s; %d prompts of %d tokens; answers of %d segments x %d tokens; policy %s%n",
            lm.dir().getFileName(), prompts, promptTokens, depth, segment, policy);
        System.out.println();
        System.out.println("| N | tree tokens | independent tokens | token ratio | tree s | independent s | time ratio | tree KV hit | independent KV hit | tree peak KV MB | independent peak KV MB |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int n : leaves) {
          TreeBenchmark.Row r = TreeBenchmark.compare(lm.model(), kvBytes, prompts, promptTokens,
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

  @Command(name = "server", mixinStandardHelpOptions = true,
      description = "Requests/s and latency of the HTTP API at several concurrencies, against the embedded API.")
  static final class Server implements Callable<Integer> {
    @Mixin ModelOption model = new ModelOption();

    @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32,64",
        description = "Clients sending requests back to back (default: ${DEFAULT-VALUE})")
    int[] concurrency;

    @Option(names = "--requests", defaultValue = "128", description = "Requests per level and side (default: ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--leaves", defaultValue = "4", description = "Answers per request (default: ${DEFAULT-VALUE})")
    int leaves;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the problems and the sampling (default: ${DEFAULT-VALUE})")
    long seed;

    @Override
    public Integer call() {
      Cli.count("--requests", requests);
      Cli.count("--leaves", leaves);
      for (int c : concurrency) {
        Cli.inRange("--concurrency", c, 1, Cli.MAX_PARALLEL, "");
      }
      // Trees of arithmetic answers: segments of 8 tokens, answers of up to 96.
      TreeRolloutConfig tree = new TreeRolloutConfig(8, 12, Math.min(2, leaves), leaves, 2, 96);
      try (LoadedModel lm = LoadedModel.open(model.resolve())) {
        System.out.printf("model: %s; each request: one held-out arithmetic problem, a tree of %d answers (segments"
            + " of 8, at most 96 tokens); %d requests per level and side, server and client in one process%n",
            lm.dir().getFileName(), leaves, requests);
        System.out.println();
        System.out.println("| concurrency | HTTP req/s | HTTP p50 ms | HTTP p99 ms | embedded req/s | embedded p50 ms"
            + " | embedded p99 ms | server overhead ms/request |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (var r : org.treeroll.server.ServerBenchmark.run(lm, 512L << 20, concurrency, requests, tree, seed)) {
          System.out.printf("| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |%n", r.http().concurrency(),
              r.http().requestsPerSecond(), r.http().p50(), r.http().p99(), r.embedded().requestsPerSecond(),
              r.embedded().p50(), r.embedded().p99(), r.overheadMs());
        }
        System.out.println();
        System.out.println("server overhead: mean HTTP latency minus mean embedded latency at the same concurrency"
            + " (JSON parsing, tokenizing, rendering, the loopback round trip)");
      }
      return 0;
    }
  }

  @Command(name = "shared-prefix", mixinStandardHelpOptions = true,
      description = "Prefix sharing at admission: N requests sharing a system prompt, submitted together.")
  static final class SharedPrefix implements Callable<Integer> {
    // The bundled model's context (512) is shorter than the default prompts.
    @Mixin ModelOption model = new ModelOption("tiny-qwen3");

    @Option(names = "--requests", defaultValue = "64", description = "Requests N (default: ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--system-tokens", defaultValue = "512",
        description = "Shared system prompt length S (default: ${DEFAULT-VALUE})")
    int systemTokens;

    @Option(names = "--user-tokens", defaultValue = "16-32",
        description = "Each request's own user part: a length, or MIN-MAX drawn per request (default: ${DEFAULT-VALUE})")
    String userTokens;

    @Option(names = "--max-tokens", defaultValue = "8", description = "Answer length at most (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the prompts and the sampling (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--kv-budget-mb", defaultValue = "2048", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
    long kvBudgetMb;

    @Override
    public Integer call() {
      int[] user = userRange();
      Cli.count("--requests", requests);
      // Checked against the model's context once it is loaded; bounded first so the sums cannot overflow.
      Cli.inRange("--system-tokens", systemTokens, 0, MAX_CONTEXT, "no model has a longer context");
      Cli.inRange("--user-tokens", user[1], 1, MAX_CONTEXT, "no model has a longer context");
      Cli.inRange("--max-tokens", maxTokens, 1, MAX_CONTEXT, "no model has a longer context");
      long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
      var w = new SharedPrefixBenchmark.Workload(requests, systemTokens, user[0], user[1], maxTokens, seed);
      try (LoadedModel lm = LoadedModel.open(model.resolve())) {
        ModelConfig cfg = lm.config();
        if (w.longestPrompt() + maxTokens > cfg.maxPositionEmbeddings()) {
          throw new TreeRollException("--system-tokens " + systemTokens + " + --user-tokens " + user[1]
              + " + --max-tokens " + maxTokens + " = " + (w.longestPrompt() + maxTokens) + " exceeds "
              + lm.dir().getFileName() + "'s max_position_embeddings " + cfg.maxPositionEmbeddings());
        }
        System.out.printf("model: %s (max_position_embeddings %d); %d requests: system prompt of %d tokens"
            + " + user part of %s tokens (random ordinary ids, seed %d); one answer each of %d tokens (EOS ignored)%n",
            lm.dir().getFileName(), cfg.maxPositionEmbeddings(), requests, systemTokens, userTokens, seed, maxTokens);
        System.out.println("prefill = computed - decode; decode = sum over answers of (answer tokens - 1): every"
            + " sampled token is fed back once except an answer's last (no branch was suspended, so nothing was recomputed)");
        List<SharedPrefixBenchmark.Result> rows = SharedPrefixBenchmark.run(lm, kvBytes, w);
        System.out.println();
        System.out.println("| submission | prompt tokens | prefill computed | prefix-cache hits | decode computed | computed / prompt | ideal | forward steps | wall s |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (SharedPrefixBenchmark.Result r : rows) {
          String how = switch (r.submission()) {
            case ONE_CALL -> "one rollout call";
            case CONCURRENT_CALLERS -> requests + " concurrent callers";
          };
          System.out.printf("| %s | %,d | %,d | %,d | %,d | %.3f | %.3f | %,d | %.2f |%n", how,
              r.promptTokens(), r.prefillTokens(), r.cacheHitTokens(), r.decodeTokens(), r.ratio(),
              r.idealRatio(), r.forwardSteps(), r.seconds());
        }
        System.out.println();
        SharedPrefixBenchmark.Result first = rows.get(0);
        System.out.printf("ideal: each distinct prompt prefix computed once, the %,d tokens of the prompts' prefix trie"
            + " (S + sum of user parts = %,d; user parts that begin alike share those tokens too)%n",
            first.distinctPrefixTokens(), first.promptTokens() - (long) (requests - 1) * systemTokens);
      }
      return 0;
    }

    /** {@code --user-tokens}: "N" or "MIN-MAX". */
    private int[] userRange() {
      String[] parts = userTokens.split("-", -1);
      try {
        int lo = Integer.parseInt(parts[0].strip());
        int hi = parts.length == 2 ? Integer.parseInt(parts[1].strip()) : lo;
        if (parts.length <= 2 && lo >= 1 && hi >= lo) {
          return new int[] {lo, hi};
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new TreeRollException("--user-tokens must be a length >= 1 or MIN-MAX with 1 <= MIN <= MAX, got '"
          + userTokens + "'");
    }
  }

}
