package org.treeroll.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.treeroll.server.cluster.ClusterBenchmark;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code treeroll bench cluster}: engines on loopback behind routers (docs/scale-out.md). */
@Command(name = "cluster", mixinStandardHelpOptions = true,
    description = "Throughput with 1..N engine JVMs, prefix-cache use with cache-aware against round-robin routing,"
        + " and the router's overhead per request (docs/scale-out.md).")
final class ClusterBenchCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--engines", defaultValue = "3", description = "Most engine JVMs (default: ${DEFAULT-VALUE})")
  int engines;

  @Option(names = "--requests", defaultValue = "24", description = "Requests per workload (default: ${DEFAULT-VALUE})")
  int requests;

  @Option(names = "--system-prompts", defaultValue = "4",
      description = "Distinct system prompts in the shared-prefix workload (default: ${DEFAULT-VALUE})")
  int systemPrompts;

  @Option(names = "--concurrency", defaultValue = "12", description = "Clients sending back to back (default: ${DEFAULT-VALUE})")
  int concurrency;

  @Option(names = "--kv-budget-mb", defaultValue = "128", description = "KV cache budget per engine (default: ${DEFAULT-VALUE} MB)")
  long kvBudgetMb;

  @Option(names = "--seed", defaultValue = "1", description = "Seed of the problems and the sampling (default: ${DEFAULT-VALUE})")
  long seed;

  @Override
  public Integer call() throws IOException {
    Cli.inRange("--engines", engines, 1, 64, "");
    Cli.count("--requests", requests);
    Cli.inRange("--system-prompts", systemPrompts, 1, requests, "--requests");
    Cli.inRange("--concurrency", concurrency, 1, Cli.MAX_PARALLEL, "");
    Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
    Path dir = model.resolve();
    if (!Files.isDirectory(dir)) {
      throw new TreeRollException("--model must be a model directory for engine JVMs to load, got " + dir);
    }
    Path logs = Files.createTempDirectory("treeroll-bench-cluster");
    int cores = Runtime.getRuntime().availableProcessors();
    System.out.printf("model: %s; %d cores shared by every engine JVM and the routers; engine logs in %s%n",
        dir.getFileName(), cores, logs);
    System.out.printf("each request: one prompt, a tree of 8 answers (segments of 8, at most 48 tokens); %d requests"
        + " per workload from %d clients%n", requests, concurrency);
    ClusterBenchmark.Result r = ClusterBenchmark.run(dir.toAbsolutePath(), logs, engines, requests, systemPrompts,
        concurrency, kvBudgetMb, seed, s -> System.err.println("bench cluster: " + s));
    System.out.println();
    System.out.println("| engines | requests/s | answers/s | computed tokens/s | p50 ms | p99 ms | engines used |");
    System.out.println("|---:|---:|---:|---:|---:|---:|---:|");
    for (ClusterBenchmark.Work w : r.throughput()) {
      System.out.printf("| %d | %.2f | %.1f | %.0f | %.0f | %.0f | %d |%n", w.engines(), w.side().requestsPerSecond(),
          w.answers() / w.side().seconds(), w.computedTokens() / w.side().seconds(), w.side().p50(), w.side().p99(),
          w.enginesUsed());
    }
    System.out.println();
    System.out.printf("shared system prompts (%d of them, %d engines):%n", systemPrompts, engines);
    System.out.println("| routing | computed tokens | cache-hit tokens | cache share of tokens | requests/s | p50 ms |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    for (ClusterBenchmark.Work w : new ClusterBenchmark.Work[] {r.roundRobin(), r.affinity()}) {
      System.out.printf("| %s | %d | %d | %.1f%% | %.2f | %.0f |%n", w.label(), w.computedTokens(),
          w.cacheHitTokens(), 100 * w.hitShare(), w.side().requestsPerSecond(), w.side().p50());
    }
    System.out.println();
    ClusterBenchmark.Latency d = r.direct();
    ClusterBenchmark.Latency via = r.routed();
    System.out.printf("routing overhead (one client, a 1-answer 4-token rollout, %d requests each way, alternating):"
        + " direct to the engine p50 %.2f ms, mean %.2f ms; through the router p50 %.2f ms, mean %.2f ms;"
        + " overhead %.2f ms/request (p50)%n", d.requests(), d.p50(), d.mean(), via.p50(), via.mean(),
        via.p50() - d.p50());
    ClusterBenchmark.Latency ds = r.directStream();
    ClusterBenchmark.Latency vs = r.routedStream();
    System.out.printf("the same rollout streamed (relayed to the engine's HTTP API): direct p50 %.2f ms, mean %.2f ms;"
        + " through the router p50 %.2f ms, mean %.2f ms; overhead %.2f ms/request (p50)%n", ds.p50(), ds.mean(),
        vs.p50(), vs.mean(), vs.p50() - ds.p50());
    return 0;
  }
}
