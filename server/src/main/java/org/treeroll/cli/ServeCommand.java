package org.treeroll.cli;

import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.server.RolloutServer;
import org.treeroll.server.ServerOptions;
import org.treeroll.server.cluster.ClusterOptions;
import org.treeroll.server.cluster.ClusterRouter;
import org.treeroll.server.cluster.EngineNode;
import org.treeroll.server.cluster.RoutingOptions;
import org.treeroll.tree.TreeRollException;
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
  @Mixin WeightsOption weights = new WeightsOption();

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

  @Mixin KvDtypeOption kv = new KvDtypeOption();

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

  @Option(names = "--cluster", description = "Also serve this engine to a cluster: join it and take requests from"
      + " its routers (docs/scale-out.md)")
  boolean cluster;

  @Option(names = "--router", description = "Serve the HTTP API in front of a cluster's engines instead of an engine"
      + " (loads no model; docs/scale-out.md)")
  boolean router;

  @Option(names = "--cluster-name", defaultValue = "treeroll",
      description = "Nodes join only a cluster of the same name (default: ${DEFAULT-VALUE})")
  String clusterName;

  @Option(names = "--cluster-host", defaultValue = "127.0.0.1",
      description = "Address this node binds and announces to the cluster (default: ${DEFAULT-VALUE})")
  String clusterHost;

  @Option(names = "--cluster-port", defaultValue = "5701", description = "This node's cluster port (default: ${DEFAULT-VALUE})")
  int clusterPort;

  @Option(names = "--members", split = ",", description = "Nodes to join through, host or host:port, comma-separated"
      + " (default: --cluster-host, ports 5701-5703); one live member is enough")
  List<String> members = List.of();

  @Option(names = "--routing", defaultValue = "cache-aware",
      description = "Router: cache-aware or round-robin (default: ${DEFAULT-VALUE})")
  String routing;

  @Option(names = "--cache-threshold", defaultValue = "0.3",
      description = "Router: share of a prompt an engine must hold to be preferred (default: ${DEFAULT-VALUE})")
  double cacheThreshold;

  @Option(names = "--balance-abs", defaultValue = "32", description = "Router: requests in flight past the least-loaded"
      + " engine's at which the load counts as out of balance (default: ${DEFAULT-VALUE})")
  int balanceAbs;

  @Option(names = "--balance-rel", defaultValue = "1.5", description = "Router: times the least-loaded engine's load at"
      + " which it counts as out of balance (default: ${DEFAULT-VALUE})")
  double balanceRel;

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
    if (cluster && router) {
      throw new TreeRollException("--cluster and --router exclude each other: a node is an engine or a router");
    }
    if (!routing.equals("cache-aware") && !routing.equals("round-robin")) {
      throw new TreeRollException("--routing must be cache-aware or round-robin, got " + routing);
    }
    Cli.inRange("--cache-threshold", cacheThreshold, 0, 1);
    Cli.inRange("--balance-abs", balanceAbs, 0, Cli.MAX_PARALLEL, "");
    Cli.inRange("--balance-rel", balanceRel, 1, 1e6);
    ClusterOptions.Joined joined = cluster || router
        ? new ClusterOptions(clusterName, clusterHost, clusterPort, members).join() : null;
    Vertx vertx = joined != null ? joined.vertx() : Vertx.vertx();
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown));
    try {
      if (router) {
        try (ClusterRouter r = ClusterRouter.start(joined, options, new RoutingOptions(routing.equals("round-robin"),
            cacheThreshold, balanceAbs, balanceRel))) {
          System.out.printf("treeroll: routing cluster '%s' on http://%s:%d (docs/scale-out.md); Ctrl-C stops%n",
              clusterName, host, r.port());
          stopped.await();
        }
        return 0;
      }
      try (LoadedModel lm = LoadedModel.open(model.resolve(), weights.precision());
          InferenceSession session = new InferenceSession(vertx, lm, kvBytes, kv.kvDtype,
              InferenceSession.DEFAULT_PAGE_SIZE, InferenceSession.DEFAULT_STEP_TOKENS);
          RolloutServer server = RolloutServer.start(vertx, session, options);
          EngineNode node = joined == null ? null : EngineNode.start(joined, server, options)) {
        System.out.printf("treeroll: serving %s on http://%s:%d (docs/http-api.md)%s; KV cache of %,d tokens in %d MB"
                + " (%s); Ctrl-C stops%n", lm.dir().getFileName(), host, server.port(), node == null ? ""
                : ", engine " + joined.nodeId() + " of cluster '" + clusterName + "'",
            (long) session.stats().join().pages() * session.kvPageSize(), kvBudgetMb,
            kv.kvDtype.name().toLowerCase(java.util.Locale.ROOT));
        stopped.await();
      }
    } finally {
      vertx.close();
    }
    return 0;
  }
}
