package org.treeroll.reward;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.io.IOException;
import java.net.ConnectException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.treeroll.tree.TreeRollException;

/**
 * {@code http}: asks a remote verifier for the reward, POSTing {@code {"prompt","response",
 * "reference"}} as JSON and reading {@code {"reward": number}} back (the protocol is in
 * docs/http-verifier.md).
 *
 * <p>Each attempt is limited by the timeout; timeouts, connection errors and 5xx replies are
 * retried with exponential backoff, a 4xx or an unreadable reply is not (asking again would get
 * the same answer). After the last failure the {@link Reward} carries an error naming the url and
 * the cause. Verdicts are cached by request, so the same (prompt, response, reference), common
 * when a tree's answers coincide, is verified once; concurrent requests for it share one call.
 * Failures are not cached, so a later request tries again.
 *
 * <p>Futures complete on a Vert.x event-loop thread: whatever is chained on them must not block.
 */
public final class HttpVerifier implements RewardFunction {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int SNIPPET = 200;

  private final HttpVerifierConfig config;
  private final String url;
  private final Vertx vertx;
  private final boolean ownsVertx;
  private final WebClient client;
  private final AsyncCache<RewardRequest, Double> cache;
  private final Map<CompletableFuture<Double>, RewardRequest> inFlight = new ConcurrentHashMap<>();
  private final AtomicBoolean closed = new AtomicBoolean();

  /** A verifier with its own Vert.x instance, closed with it. */
  public HttpVerifier(HttpVerifierConfig config) {
    // One event loop is plenty for small JSON exchanges; the verifier does no blocking work.
    this(config, Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1)), true);
  }

  /** A verifier on the caller's Vert.x instance, which stays open when the verifier closes. */
  public HttpVerifier(HttpVerifierConfig config, Vertx vertx) {
    this(config, vertx, false);
  }

  private HttpVerifier(HttpVerifierConfig config, Vertx vertx, boolean ownsVertx) {
    if (config == null) {
      throw new TreeRollException("http verifier: config is null");
    }
    if (vertx == null) {
      throw new TreeRollException("http verifier: vertx is null");
    }
    this.config = config;
    this.url = config.url().toString();
    this.vertx = vertx;
    this.ownsVertx = ownsVertx;
    this.client = WebClient.create(vertx,
        new WebClientOptions().setUserAgent("treeroll-reward").setKeepAlive(true),
        new PoolOptions().setHttp1MaxSize(config.connections()));
    this.cache = Caffeine.newBuilder()
        .maximumSize(config.cacheSize())
        .expireAfterWrite(config.cacheExpiry())
        .buildAsync();
  }

  @Override
  public String name() {
    return "http";
  }

  public HttpVerifierConfig config() {
    return config;
  }

  @Override
  public CompletableFuture<Reward> score(RewardRequest request) {
    if (request == null) {
      throw new TreeRollException("http verifier: request is null");
    }
    if (closed.get()) {
      return CompletableFuture.completedFuture(Reward.failed("http verifier " + url + " is closed"));
    }
    return cache.get(request, (r, executor) -> verify(r, executor))
        .handle((value, failure) -> failure == null ? Reward.of(value) : Reward.failed(message(failure)));
  }

  /**
   * Every attempt for one request; fails with the last attempt's cause. The first attempt starts
   * on {@code executor}, after the cache has its future: Caffeine calls this inside the map's
   * update of the key, and a refused connection can complete the attempt at once, whose failure
   * then removes the key from inside that update ("Recursive update").
   */
  private CompletableFuture<Double> verify(RewardRequest request, Executor executor) {
    CompletableFuture<Double> result = new CompletableFuture<>();
    inFlight.put(result, request);
    result.whenComplete((v, e) -> inFlight.remove(result));
    Buffer body;
    try {
      body = Buffer.buffer(JSON.writeValueAsBytes(requestJson(request)));
    } catch (JsonProcessingException e) {
      result.completeExceptionally(new VerifierFailure("http verifier " + url + ": cannot write the request: " + e.getOriginalMessage()));
      return result;
    }
    executor.execute(() -> attempt(request, body, 1, result));
    return result;
  }

  private static ObjectNode requestJson(RewardRequest r) {
    ObjectNode o = JSON.createObjectNode();
    o.put("prompt", r.prompt());
    o.put("response", r.response());
    o.put("reference", r.reference());
    return o;
  }

  private void attempt(RewardRequest request, Buffer body, int n, CompletableFuture<Double> result) {
    if (result.isDone()) {
      // Closing failed it while a retry was waiting; the client may be gone.
      return;
    }
    send(body).onComplete(ar -> {
      if (ar.succeeded()) {
        result.complete(ar.result());
        return;
      }
      AttemptFailure f = ar.cause() instanceof AttemptFailure af ? af : new AttemptFailure(true, describe(ar.cause()));
      if (f.retryable && n <= config.retries() && !closed.get()) {
        long delay = backoffBefore(n + 1);
        if (delay < 1) {
          attempt(request, body, n + 1, result);
        } else {
          vertx.setTimer(delay, id -> attempt(request, body, n + 1, result));
        }
      } else {
        fail(request, result, "http verifier " + url + " failed after " + n
            + (n == 1 ? " attempt: " : " attempts: ") + f.getMessage());
      }
    });
  }

  /**
   * Fails a verification without caching it. Caffeine drops failed futures by itself, but only in
   * a callback that may run after the caller's, so a quick second request could still find the
   * failure: the entry goes first.
   */
  private void fail(RewardRequest request, CompletableFuture<Double> result, String message) {
    cache.asMap().remove(request, result);
    result.completeExceptionally(new VerifierFailure(message));
  }

  /** Wait before attempt {@code n} (n >= 2): the backoff, doubled for each retry after the first. */
  long backoffBefore(int n) {
    long base = config.backoff().toMillis();
    int doublings = Math.min(n - 2, 30);
    return base > (Long.MAX_VALUE >> doublings) ? Long.MAX_VALUE : base << doublings;
  }

  /** One attempt, failing with an {@link AttemptFailure} that says whether to retry. */
  private Future<Double> send(Buffer body) {
    Promise<Double> p = Promise.promise();
    long ms = config.timeout().toMillis();
    // The request's own timeout covers connecting and silences; this one bounds the whole attempt,
    // so a verifier trickling bytes cannot hold it forever.
    long timer = vertx.setTimer(ms, id -> p.tryFail(new AttemptFailure(true, "timed out after " + ms + " ms")));
    client.postAbs(url)
        .timeout(ms)
        .putHeader("Content-Type", "application/json")
        .putHeader("Accept", "application/json")
        .sendBuffer(body)
        .onComplete(ar -> {
          vertx.cancelTimer(timer);
          if (ar.failed()) {
            p.tryFail(ar.cause() instanceof TimeoutException
                ? new AttemptFailure(true, "timed out after " + ms + " ms")
                : new AttemptFailure(true, describe(ar.cause())));
            return;
          }
          try {
            p.tryComplete(verdict(ar.result()));
          } catch (AttemptFailure f) {
            p.tryFail(f);
          }
        });
    return p.future();
  }

  private static double verdict(HttpResponse<Buffer> response) {
    int status = response.statusCode();
    Buffer body = response.body();
    String text = body == null ? "" : body.toString();
    if (status >= 500) {
      throw new AttemptFailure(true, "HTTP " + status + " " + snippet(text));
    }
    if (status < 200 || status > 299) {
      throw new AttemptFailure(false, "HTTP " + status + " (not retried) " + snippet(text));
    }
    JsonNode json;
    try {
      json = JSON.readTree(text);
    } catch (IOException e) {
      throw new AttemptFailure(false, "malformed JSON in the reply: " + snippet(text));
    }
    JsonNode reward = json == null ? null : json.get("reward");
    if (reward == null || reward.isNull()) {
      JsonNode error = json == null ? null : json.get("error");
      if (error != null && error.isTextual()) {
        throw new AttemptFailure(false, "the verifier reported an error: " + snippet(error.asText()));
      }
      throw new AttemptFailure(false, "the reply has no number 'reward': " + snippet(text));
    }
    if (!reward.isNumber() || !Double.isFinite(reward.asDouble())) {
      throw new AttemptFailure(false, "'reward' in the reply is not a finite number: " + snippet(text));
    }
    return reward.asDouble();
  }

  private static String describe(Throwable t) {
    if (t instanceof ConnectException) {
      return "cannot connect: " + t.getMessage();
    }
    String m = t.getMessage();
    return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  private static String snippet(String text) {
    String t = text.strip().replaceAll("\\s+", " ");
    return t.length() <= SNIPPET ? t : t.substring(0, SNIPPET) + "...";
  }

  private static String message(Throwable failure) {
    Throwable t = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    return t instanceof VerifierFailure ? t.getMessage() : "http verifier failed: " + describe(t);
  }

  /**
   * Stops the verifier: requests still waiting get an error instead of hanging, and an owned
   * Vert.x instance is closed.
   */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    for (Map.Entry<CompletableFuture<Double>, RewardRequest> e : Map.copyOf(inFlight).entrySet()) {
      fail(e.getValue(), e.getKey(), "http verifier " + url + " was closed while verifying");
    }
    client.close();
    cache.synchronous().invalidateAll();
    if (ownsVertx) {
      try {
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        // Closing is best effort: the verifier is unusable either way.
      }
    }
  }

  /** Why one attempt failed, and whether another could succeed. */
  private static final class AttemptFailure extends RuntimeException {
    final boolean retryable;

    AttemptFailure(boolean retryable, String message) {
      super(message, null, false, false);
      this.retryable = retryable;
    }
  }

  /** Why verification failed for good: the message is what the reward's error says. */
  private static final class VerifierFailure extends RuntimeException {
    VerifierFailure(String message) {
      super(message, null, false, false);
    }
  }
}
