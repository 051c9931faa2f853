package org.treeroll.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.server.ServerBenchmark;
import org.treeroll.server.ServerOptions;
import org.treeroll.tree.TreeRollException;

/**
 * The cluster on this machine ({@code treeroll bench cluster}, docs/scale-out.md): engine JVMs
 * on loopback and two routers in this JVM, one cache-aware and one round-robin. Measures
 * throughput with 1..n engines, the prefix cache's share of the work with affinity against
 * round-robin on prompts that share system prompts, and the router's latency over calling an
 * engine directly, for a rollout (an event-bus request) and a streamed one (relayed to the
 * engine's HTTP API).
 */
public final class ClusterBenchmark {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String SYSTEM = "You are a careful calculator. Work out the problem digit by digit, check"
      + " every carry and borrow twice, and write the final answer alone on the last line.\n";

  private ClusterBenchmark() {}

  /** What the engines did for one workload, summed over its answers (from each answer's stats). */
  public record Work(String label, int engines, ServerBenchmark.Side side, long answers, long computedTokens,
      long cacheHitTokens, int enginesUsed) {
    /** The prefix cache's share of the tokens the rollouts needed. */
    public double hitShare() {
      long all = computedTokens + cacheHitTokens;
      return all == 0 ? 0 : (double) cacheHitTokens / all;
    }
  }

  /** Latencies of one client's requests, in milliseconds. */
  public record Latency(int requests, double p50, double mean) {
    static Latency of(long[] nanos) {
      long[] sorted = nanos.clone();
      java.util.Arrays.sort(sorted);
      return new Latency(sorted.length, sorted[sorted.length / 2] / 1e6, java.util.Arrays.stream(sorted).average()
          .orElse(0) / 1e6);
    }
  }

  /** Every measurement of one run. */
  public record Result(List<Work> throughput, Work affinity, Work roundRobin, Latency direct, Latency routed,
      Latency directStream, Latency routedStream) {}

  /**
   * @param maxEngines throughput is measured with 1..maxEngines engines; the rest with all
   * @param requests requests per workload
   * @param systemPrompts distinct system prompts in the shared-prefix workload
   * @param concurrency clients sending back to back
   */
  public static Result run(Path model, Path logs, int maxEngines, int requests, int systemPrompts, int concurrency,
      long kvBudgetMb, long seed, Consumer<String> progress) {
    ServerOptions http = ServerOptions.defaults().withPort(0).withMaxInFlight(Math.max(64, concurrency));
    try (LocalEngines local = new LocalEngines("bench-" + UUID.randomUUID(), model, logs, kvBudgetMb, maxEngines + 1)) {
      ClusterOptions.Joined node = local.options(0).join();
      try (ClusterRouter affinity = ClusterRouter.start(node, http, RoutingOptions.defaults());
          ClusterRouter roundRobin = ClusterRouter.start(node, http, new RoutingOptions(true, 0.3, 32, 1.5))) {
        WebClient client = WebClient.create(node.vertx());
        List<Work> throughput = new ArrayList<>();
        for (int k = 1; k <= maxEngines; k++) {
          progress.accept("starting engine " + k + " of " + maxEngines);
          LocalEngines.Engine e = local.start(k).get(0);
          awaitEngines(client, affinity, k);
          awaitEngines(client, roundRobin, k);
          // Warm-up on the new engine alone: its JIT and kernels, before anything is timed.
          ServerBenchmark.measure(2 * concurrency, concurrency, i -> post(client, e.httpPort(),
              request("warm-up " + i + ": 1+" + i + "=?\n", 8, 8, 6, seed)));
          List<String> prompts = ArithmeticTask.defaultMix().problems(ArithmeticTask.Split.HELD_OUT, seed + k,
              requests).stream().map(ArithmeticTask.Problem::prompt).toList();
          progress.accept("throughput with " + k + " engines");
          throughput.add(workload(client, affinity, "distinct prompts", k, prompts, concurrency, seed));
        }
        progress.accept("shared system prompts: round-robin, then cache-aware");
        Work rr = workload(client, roundRobin, "round-robin", maxEngines,
            sharedPrompts("rr", systemPrompts, requests, seed), concurrency, seed);
        Work aff = workload(client, affinity, "cache-aware", maxEngines,
            sharedPrompts("ca", systemPrompts, requests, seed), concurrency, seed);
        progress.accept("routing overhead: one client, the same small request, alternately direct and routed");
        ObjectNode small = request(SYSTEM + "Q: 2+2=?\n", 1, 4, 1, seed);
        String served = null;
        for (int i = 0; i < 10; i++) { // warm-up; the prompt's engine is the one to call directly
          served = post(client, affinity.port(), small).getHeader(ClusterRouter.ENGINE_HEADER);
        }
        String target = served;
        int direct = local.engines().stream().filter(e -> e.node().equals(target)).findFirst().orElseThrow().httpPort();
        Latency[] plain = alternate(client, direct, affinity.port(), small, requests);
        Latency[] streamed = alternate(client, direct, affinity.port(), small.deepCopy().put("stream", true), requests);
        return new Result(throughput, aff, rr, plain[0], plain[1], streamed[0], streamed[1]);
      } catch (Exception e) {
        throw e instanceof RuntimeException x ? x : new TreeRollException(e.getMessage(), e);
      } finally {
        node.vertx().close().toCompletionStage().toCompletableFuture().orTimeout(1, TimeUnit.MINUTES).join();
      }
    }
  }

  /** The same request, alternately to the engine and through the router, so that both see the same load. */
  private static Latency[] alternate(WebClient client, int direct, int router, ObjectNode body, int requests)
      throws Exception {
    long[] d = new long[requests];
    long[] r = new long[requests];
    for (int i = 0; i < requests; i++) {
      long t0 = System.nanoTime();
      post(client, direct, body);
      long t1 = System.nanoTime();
      post(client, router, body);
      d[i] = t1 - t0;
      r[i] = System.nanoTime() - t1;
    }
    return new Latency[] {Latency.of(d), Latency.of(r)};
  }

  /** {@code requests} prompts, each a system prompt (of {@code count}, tagged with {@code run}) and a problem, shuffled. */
  private static List<String> sharedPrompts(String run, int count, int requests, long seed) {
    List<ArithmeticTask.Problem> problems = ArithmeticTask.defaultMix().problems(ArithmeticTask.Split.HELD_OUT,
        seed + 100, requests);
    List<String> prompts = new ArrayList<>();
    for (int i = 0; i < requests; i++) {
      // The tag comes first, so that prompts of different system prompts share almost nothing.
      prompts.add("[" + run + " " + (i % count) + "] " + SYSTEM + problems.get(i).prompt());
    }
    Collections.shuffle(prompts, new Random(seed));
    return prompts;
  }

  private static Work workload(WebClient client, ClusterRouter router, String label, int engines,
      List<String> prompts, int concurrency, long seed) {
    LongAdder answers = new LongAdder();
    LongAdder computed = new LongAdder();
    LongAdder hits = new LongAdder();
    java.util.Set<String> used = java.util.concurrent.ConcurrentHashMap.newKeySet();
    ServerBenchmark.Side side = ServerBenchmark.measure(prompts.size(), concurrency, i -> {
      HttpResponse<Buffer> res = post(client, router.port(), request(prompts.get(i), 8, 8, 6, seed + i));
      JsonNode stats = JSON.readTree(res.body().getBytes()).path("stats");
      answers.add(stats.path("answers").asLong());
      computed.add(stats.path("computed_tokens").asLong());
      hits.add(stats.path("cache_hit_tokens").asLong());
      if (res.getHeader(ClusterRouter.ENGINE_HEADER) != null) {
        used.add(res.getHeader(ClusterRouter.ENGINE_HEADER));
      }
    });
    return new Work(label, engines, side, answers.sum(), computed.sum(), hits.sum(), used.size());
  }

  private static ObjectNode request(String prompt, int leaves, int segment, int depth, long seed) {
    ObjectNode body = JSON.createObjectNode();
    body.putArray("prompts").add(prompt);
    body.putObject("tree").put("segment_length", segment).put("max_depth", depth).put("leaf_budget", leaves)
        .put("initial_divergence", Math.min(2, leaves));
    body.putObject("sampling").put("seed", seed);
    return body;
  }

  private static HttpResponse<Buffer> post(WebClient client, int port, ObjectNode body) throws Exception {
    HttpResponse<Buffer> r = client.post(port, "127.0.0.1", "/v1/rollouts").timeout(TimeUnit.MINUTES.toMillis(5))
        .putHeader("Content-Type", "application/json").sendBuffer(Buffer.buffer(JSON.writeValueAsBytes(body)))
        .toCompletionStage().toCompletableFuture().get(5, TimeUnit.MINUTES);
    if (r.statusCode() != 200) {
      throw new TreeRollException("the cluster answered " + r.statusCode() + ": " + r.bodyAsString());
    }
    return r;
  }

  private static void awaitEngines(WebClient client, ClusterRouter router, int n) {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    try {
      while (System.nanoTime() < deadline) {
        HttpResponse<Buffer> r = client.get(router.port(), "127.0.0.1", "/health").send().toCompletionStage()
            .toCompletableFuture().get(1, TimeUnit.MINUTES);
        if (JSON.readTree(r.body().getBytes()).path("engines").asInt() >= n) {
          return;
        }
        Thread.sleep(100);
      }
    } catch (Exception e) {
      throw new TreeRollException("cannot reach the router: " + e.getMessage(), e);
    }
    throw new TreeRollException("the router did not see " + n + " engines within a minute");
  }
}
