package org.treeroll.server;

import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.scheduler.EngineStats;

/**
 * A real server on a free loopback port over the bundled model (models/treeroll-arith: byte
 * tokenizer, vocabulary 259, context 512), with the engine kept at hand so a test can look at it.
 */
final class TestServer implements AutoCloseable {
  final Vertx vertx;
  final LoadedModel model;
  final InferenceSession session;
  final RolloutServer server;
  final ServerOptions options;

  private TestServer(Vertx vertx, LoadedModel model, InferenceSession session, RolloutServer server,
      ServerOptions options) {
    this.vertx = vertx;
    this.model = model;
    this.session = session;
    this.server = server;
    this.options = options;
  }

  static Path bundledModel() {
    return Path.of(System.getProperty("treeroll.models.dir", "../models")).resolve("treeroll-arith");
  }

  /** Small limits, so that 413s are cheap to reach. */
  static ServerOptions smallLimits() {
    return new ServerOptions("127.0.0.1", 0, null, 8, 64 << 10, 2000, Duration.ofSeconds(60),
        Duration.ofMinutes(5), 100);
  }

  static TestServer start(ServerOptions options) {
    Vertx vertx = Vertx.vertx();
    LoadedModel model = LoadedModel.open(bundledModel());
    InferenceSession session = new InferenceSession(vertx, model, 64L << 20, InferenceSession.DEFAULT_PAGE_SIZE,
        InferenceSession.DEFAULT_STEP_TOKENS);
    return new TestServer(vertx, model, session, RolloutServer.start(vertx, session, options), options);
  }

  String base() {
    return "http://127.0.0.1:" + server.port();
  }

  EngineStats stats() throws Exception {
    return session.stats().get(30, TimeUnit.SECONDS);
  }

  /**
   * The engine's state once {@code done} holds (cancelled branches go at the next step boundary,
   * so a check right after an answer can be early), or the last state after {@code timeout}.
   */
  EngineStats statsWhen(Predicate<EngineStats> done, Duration timeout) throws Exception {
    long end = System.nanoTime() + timeout.toNanos();
    EngineStats s = stats();
    while (!done.test(s) && System.nanoTime() < end) {
      Thread.sleep(50);
      s = stats();
    }
    return s;
  }

  @Override
  public void close() {
    try {
      server.close();
    } finally {
      try {
        session.close();
      } finally {
        model.close();
        vertx.close().toCompletionStage().toCompletableFuture().orTimeout(1, java.util.concurrent.TimeUnit.MINUTES).join();
      }
    }
  }
}
