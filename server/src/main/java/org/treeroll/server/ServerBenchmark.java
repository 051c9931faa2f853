package org.treeroll.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.tree.TreeRollException;

/**
 * Load on the HTTP API against the same work through the embedded API, in one process: at each
 * concurrency C, C clients each send requests back to back (a tree rollout of one arithmetic
 * problem) until {@code requests} are answered; requests/s and latency percentiles per side, and
 * the server's overhead per request (HTTP mean latency minus embedded mean latency).
 */
public final class ServerBenchmark {
  private ServerBenchmark() {}

  /** One side at one concurrency. Latencies in milliseconds. */
  public record Side(int concurrency, int requests, double seconds, double p50, double p99, double mean) {
    public double requestsPerSecond() {
      return requests / seconds;
    }
  }

  /** One concurrency level: the server and the embedded API on the same requests. */
  public record Row(Side http, Side embedded) {
    public double overheadMs() {
      return http.mean() - embedded.mean();
    }
  }

  /**
   * @param tree the rollout each request asks for
   * @param requests requests per concurrency level and side
   */
  public static List<Row> run(LoadedModel model, long kvBudgetBytes, int[] concurrencies, int requests,
      TreeRolloutConfig tree, long seed) {
    List<String> prompts = ArithmeticTask.defaultMix().problems(ArithmeticTask.Split.HELD_OUT, seed, requests)
        .stream().map(ArithmeticTask.Problem::prompt).toList();
    Vertx vertx = Vertx.vertx();
    try (InferenceSession session = new InferenceSession(vertx, model, kvBudgetBytes,
        InferenceSession.DEFAULT_PAGE_SIZE, InferenceSession.DEFAULT_STEP_TOKENS);
        RolloutServer server = RolloutServer.start(vertx, session,
            ServerOptions.defaults().withPort(0).withMaxInFlight(Math.max(64, Arrays.stream(concurrencies).max().orElse(1))))) {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
      URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/rollouts");
      // Warm-up: the kernels and both paths' code get compiled before anything is timed.
      measure(Math.min(32, requests), 4, i -> viaHttp(http, uri, prompts.get(i), tree, seed + i));
      measure(Math.min(32, requests), 4, i -> embedded(session, model, prompts.get(i), tree, seed + i));
      List<Row> rows = new ArrayList<>();
      for (int c : concurrencies) {
        Side h = measure(requests, c, i -> viaHttp(http, uri, prompts.get(i), tree, seed + i));
        Side e = measure(requests, c, i -> embedded(session, model, prompts.get(i), tree, seed + i));
        rows.add(new Row(h, e));
      }
      return rows;
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().join();
    }
  }

  /** One request of a measured run. */
  public interface Call {
    void run(int index) throws Exception;
  }

  private static void viaHttp(HttpClient http, URI uri, String prompt, TreeRolloutConfig tree, long seed)
      throws Exception {
    ObjectNode body = RolloutServer.JSON.createObjectNode();
    body.putArray("prompts").add(prompt);
    body.putObject("tree").put("segment_length", tree.segmentLength()).put("max_depth", tree.maxDepth())
        .put("leaf_budget", tree.leafBudget()).put("initial_divergence", tree.initialDivergence())
        .put("max_tokens", tree.maxTokens()).put("policy", tree.policy());
    body.putObject("sampling").put("seed", seed);
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(5))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(RolloutServer.JSON.writeValueAsString(body))).build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new TreeRollException("the server answered " + r.statusCode() + ": " + r.body());
    }
  }

  private static void embedded(InferenceSession session, LoadedModel model, String prompt, TreeRolloutConfig tree,
      long seed) {
    // What the server does for the same request, less HTTP: tokenize, roll out, render the trees.
    var trees = session.rollout(List.of(model.tokenizer().encodePrompt(prompt)), tree,
        SamplingParams.defaults().withSeed(seed), RolloutHooks.NONE).join();
    trees.forEach(org.treeroll.tree.TreeDump::toJson);
  }

  /** {@code requests} calls from {@code concurrency} clients, each taking the next index. */
  public static Side measure(int requests, int concurrency, Call call) {
    long[] nanos = new long[requests];
    AtomicInteger next = new AtomicInteger();
    long t0 = System.nanoTime();
    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<?>> running = new ArrayList<>();
      for (int c = 0; c < concurrency; c++) {
        running.add(clients.submit(() -> {
          for (int i = next.getAndIncrement(); i < requests; i = next.getAndIncrement()) {
            long s = System.nanoTime();
            call.run(i);
            nanos[i] = System.nanoTime() - s;
          }
          return null;
        }));
      }
      for (Future<?> f : running) {
        f.get();
      }
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : new TreeRollException(e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TreeRollException("interrupted");
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    return new Side(concurrency, requests, seconds, percentile(sorted, 0.50), percentile(sorted, 0.99),
        Arrays.stream(sorted).average().orElse(0) / 1e6);
  }

  private static double percentile(long[] sorted, double q) {
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
  }
}
