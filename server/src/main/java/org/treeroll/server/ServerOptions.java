package org.treeroll.server;

import java.time.Duration;
import org.treeroll.tree.TreeRollException;

/**
 * How the server listens and what it accepts.
 *
 * @param host address to bind; loopback unless the operator says otherwise
 * @param port TCP port, 0 for any free one
 * @param apiKey when set, every request but {@code /health} must carry
 *     {@code Authorization: Bearer <key>}; null for none
 * @param maxInFlight engine requests (rollouts, completions) running or queued at once; more are
 *     answered 429 with Retry-After
 * @param maxBodyBytes largest request body; larger ones are answered 413
 * @param maxPromptTokens most prompt tokens one request may carry in all; more are answered 413
 * @param requestTimeout how long a request may run; past it it is cancelled and answered 504
 * @param resultTtl how long finished rollouts stay readable by id
 * @param maxResults finished rollouts kept at most (the oldest go first)
 */
public record ServerOptions(String host, int port, String apiKey, int maxInFlight, long maxBodyBytes,
    int maxPromptTokens, Duration requestTimeout, Duration resultTtl, int maxResults) {

  public ServerOptions {
    if (host == null || host.isBlank()) {
      throw new TreeRollException("--host must be an address, got '" + host + "'");
    }
    if (port < 0 || port > 65535) {
      throw new TreeRollException("--port must be in [0, 65535], got " + port);
    }
    if (apiKey != null && apiKey.isBlank()) {
      throw new TreeRollException("--api-key must not be blank");
    }
    positive("--max-in-flight", maxInFlight);
    positive("--max-body-mb", maxBodyBytes);
    positive("--max-prompt-tokens", maxPromptTokens);
    positive("--request-timeout-s", requestTimeout.toMillis());
    positive("--result-ttl-s", resultTtl.toMillis());
    positive("--max-results", maxResults);
  }

  /** Loopback, port 8000, no key, 64 requests in flight, 16 MB bodies, 10 minutes a request. */
  public static ServerOptions defaults() {
    return new ServerOptions("127.0.0.1", 8000, null, 64, 16L << 20, 1 << 20, Duration.ofMinutes(10),
        Duration.ofMinutes(30), 1000);
  }

  public ServerOptions withPort(int p) {
    return new ServerOptions(host, p, apiKey, maxInFlight, maxBodyBytes, maxPromptTokens, requestTimeout, resultTtl,
        maxResults);
  }

  public ServerOptions withApiKey(String key) {
    return new ServerOptions(host, port, key, maxInFlight, maxBodyBytes, maxPromptTokens, requestTimeout, resultTtl,
        maxResults);
  }

  public ServerOptions withMaxInFlight(int n) {
    return new ServerOptions(host, port, apiKey, n, maxBodyBytes, maxPromptTokens, requestTimeout, resultTtl,
        maxResults);
  }

  public ServerOptions withMaxBodyBytes(long n) {
    return new ServerOptions(host, port, apiKey, maxInFlight, n, maxPromptTokens, requestTimeout, resultTtl,
        maxResults);
  }

  public ServerOptions withRequestTimeout(Duration t) {
    return new ServerOptions(host, port, apiKey, maxInFlight, maxBodyBytes, maxPromptTokens, t, resultTtl,
        maxResults);
  }

  private static void positive(String name, long v) {
    if (v <= 0) {
      throw new TreeRollException(name + " must be > 0, got " + v);
    }
  }
}
