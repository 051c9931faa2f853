package org.treeroll.cli;

import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.server.RolloutServer;
import org.treeroll.server.ServerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Serves the HTTP API (docs/http-api.md) until the process is stopped. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Serve rollouts, completions and weight updates over HTTP (docs/http-api.md).")
final class ServeCommand implements Callable<Integer> {
  /** 256 MB of token ids: a request past it is a mistake, not a workload. */
  static final int MAX_PROMPT_TOKENS = 1 << 26;
  static final long MAX_TIMEOUT_S = 7 * 24 * 3600;
  /** Finished rollouts held in memory for reading by id. */
  static final int MAX_RESULTS = 1_000_000;

  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--host", defaultValue = "127.0.0.1",
      description = "Address to bind (default: ${DEFAULT-VALUE}, loopback only; 0.0.0.0 for every interface)")
  String host;

  @Option(names = "--port", defaultValue = "8000", description = "Port (default: ${DEFAULT-VALUE}; 0 for any free one)")
  int port;

  @Option(names = "--api-key", description = "Require Authorization: Bearer <key> on every request but /health"
      + " (default: the TREEROLL_API_KEY environment variable, else none)")
  String apiKey;

  @Option(names = "--kv-budget-mb", defaultValue = "1024", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
  long kvBudgetMb;

  @Option(names = "--max-in-flight", defaultValue = "64",
      description = "Requests running or queued at once; more get 429 (default: ${DEFAULT-VALUE})")
  int maxInFlight;

  @Option(names = "--max-body-mb", defaultValue = "16", description = "Largest request body (default: ${DEFAULT-VALUE} MB)")
  long maxBodyMb;

  @Option(names = "--max-prompt-tokens", defaultValue = "1048576",
      description = "Most prompt tokens in one request (default: ${DEFAULT-VALUE})")
  int maxPromptTokens;

  @Option(names = "--request-timeout-s", defaultValue = "600",
      description = "A request running longer is cancelled and answered 504 (default: ${DEFAULT-VALUE})")
  long timeoutS;

  @Option(names = "--result-ttl-s", defaultValue = "1800",
      description = "How long finished rollouts stay readable by id (default: ${DEFAULT-VALUE})")
  long resultTtlS;

  @Option(names = "--max-results", defaultValue = "1000", description = "Finished rollouts kept (default: ${DEFAULT-VALUE})")
  int maxResults;

  @Override
  public Integer call() throws InterruptedException {
    long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
    Cli.inRange("--port", port, 0, 65535, "");
    Cli.inRange("--max-in-flight", maxInFlight, 1, Cli.MAX_PARALLEL, "");
    // A body is held whole in the heap while it is parsed.
    Cli.inRange("--max-body-mb", maxBodyMb, 1, Runtime.getRuntime().maxMemory() / 4 >> 20, "a quarter of the heap");
    Cli.inRange("--max-prompt-tokens", maxPromptTokens, 1, MAX_PROMPT_TOKENS, "");
    Cli.inRange("--request-timeout-s", timeoutS, 1, MAX_TIMEOUT_S, "a week");
    Cli.inRange("--result-ttl-s", resultTtlS, 1, MAX_TIMEOUT_S, "a week");
    Cli.inRange("--max-results", maxResults, 1, MAX_RESULTS, "");
    String key = apiKey != null ? apiKey : System.getenv("TREEROLL_API_KEY");
    ServerOptions options = new ServerOptions(host, port, key, maxInFlight, maxBodyMb << 20, maxPromptTokens,
        Duration.ofSeconds(timeoutS), Duration.ofSeconds(resultTtlS), maxResults);
    Vertx vertx = Vertx.vertx();
    CountDownLatch stopped = new CountDownLatch(1);
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(vertx, lm, kvBytes,
            InferenceSession.DEFAULT_PAGE_SIZE, InferenceSession.DEFAULT_STEP_TOKENS);
        RolloutServer server = RolloutServer.start(vertx, session, options)) {
      System.out.printf("treeroll: serving %s on http://%s:%d (docs/http-api.md); Ctrl-C stops%n",
          lm.dir().getFileName(), host, server.port());
      Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown));
      stopped.await();
    } finally {
      vertx.close();
    }
    return 0;
  }
}
