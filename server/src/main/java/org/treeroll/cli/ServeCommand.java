package org.treeroll.cli;

import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.server.RolloutServer;
import org.treeroll.server.ServerOptions;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Serves the HTTP API (docs/http-api.md) until the process is stopped. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Serve rollouts, completions and weight updates over HTTP (docs/http-api.md).")
final class ServeCommand implements Callable<Integer> {
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
    if (kvBudgetMb <= 0) {
      throw new TreeRollException("--kv-budget-mb must be > 0, got " + kvBudgetMb);
    }
    String key = apiKey != null ? apiKey : System.getenv("TREEROLL_API_KEY");
    ServerOptions options = new ServerOptions(host, port, key, maxInFlight, maxBodyMb << 20, maxPromptTokens,
        Duration.ofSeconds(timeoutS), Duration.ofSeconds(resultTtlS), maxResults);
    Vertx vertx = Vertx.vertx();
    CountDownLatch stopped = new CountDownLatch(1);
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(vertx, lm, kvBudgetMb << 20,
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
