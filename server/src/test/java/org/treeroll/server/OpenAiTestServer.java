package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;

/**
 * A real server on a free loopback port over a model directory (the bundled one unless told),
 * with a plain HTTP client for what the OpenAI client cannot send.
 */
final class OpenAiTestServer implements AutoCloseable {
  static final String KEY = "test-key";

  final Vertx vertx;
  final LoadedModel model;
  final InferenceSession session;
  final RolloutServer server;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  private OpenAiTestServer(Path dir, ServerOptions options) {
    vertx = Vertx.vertx();
    model = LoadedModel.open(dir);
    session = new InferenceSession(vertx, model, 64L << 20, InferenceSession.DEFAULT_PAGE_SIZE,
        InferenceSession.DEFAULT_STEP_TOKENS);
    server = RolloutServer.start(vertx, session, options.withPort(0).withApiKey(KEY));
  }

    static OpenAiTestServer start() {
    return new OpenAiTestServer(TestServer.bundledModel(), ServerOptions.defaults());
  }

  static OpenAiTestServer start(Path dir, ServerOptions options) {
    return new OpenAiTestServer(dir, options);
  }

  /** A second server over the same engine, with other options. */
  RolloutServer another(ServerOptions options) {
    return RolloutServer.start(vertx, session, options.withPort(0).withApiKey(KEY));
  }

  String base() {
    return "http://127.0.0.1:" + server.port();
  }

  String modelId() {
    return model.dir().getFileName().toString();
  }

  /** A POST with the key, as raw as asked: any body, any content type (null: none). */
  Reply post(int port, String path, String body, String contentType) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofMinutes(2)).header("Authorization", "Bearer " + KEY)
        .POST(HttpRequest.BodyPublishers.ofString(body));
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    return send(b.build());
  }

  Reply post(String path, String body) {
    return post(server.port(), path, body, "application/json");
  }

  Reply get(String path) {
    return send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofMinutes(1))
        .header("Authorization", "Bearer " + KEY).GET().build());
  }

  Reply send(HttpRequest r) {
    try {
      HttpResponse<String> res = http.send(r, HttpResponse.BodyHandlers.ofString());
      return new Reply(res.statusCode(), res.body(), res.headers().firstValue("Content-Type").orElse(""),
          res.headers().firstValue("Retry-After").orElse(null));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  record Reply(int status, String body, String contentType, String retryAfter) {
    JsonNode json() {
      try {
        return RolloutServer.JSON.readTree(body);
      } catch (IOException e) {
        throw new AssertionError("not JSON: " + body, e);
      }
    }
  }

  @Override
  public void close() {
    server.close();
    session.close();
    model.close();
    vertx.close().toCompletionStage().toCompletableFuture().orTimeout(1, java.util.concurrent.TimeUnit.MINUTES).join();
  }
}
