package org.treeroll.reward;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import org.treeroll.tree.TreeRollException;

/**
 * Settings of an {@link HttpVerifier}.
 *
 * @param url where answers are POSTed (http or https)
 * @param timeout limit of one attempt, from asking for a connection to the last byte of the reply
 * @param retries further attempts after a timeout, connection error or 5xx
 * @param backoff wait before the first retry; each later retry waits twice as long as the one before
 * @param connections most connections open to the verifier at once
 * @param cacheSize most verdicts kept; 0 keeps none
 * @param cacheExpiry how long a verdict is kept after it arrives
 */
public record HttpVerifierConfig(URI url, Duration timeout, int retries, Duration backoff, int connections,
    long cacheSize, Duration cacheExpiry) {
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
  public static final int DEFAULT_RETRIES = 2;
  public static final Duration DEFAULT_BACKOFF = Duration.ofMillis(100);
  public static final int DEFAULT_CONNECTIONS = 16;
  public static final long DEFAULT_CACHE_SIZE = 100_000;
  public static final Duration DEFAULT_CACHE_EXPIRY = Duration.ofHours(1);

  public HttpVerifierConfig {
    if (url == null) {
      throw new TreeRollException("http verifier: parameter 'url' is required, e.g. http:url=http://127.0.0.1:8000/verify");
    }
    if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme()) || url.getHost() == null) {
      throw new TreeRollException("http verifier: parameter 'url' must be an http:// or https:// address with a host, got '" + url + "'");
    }
    if (timeout == null || timeout.toMillis() < 1) {
      // Vert.x timers count whole milliseconds.
      throw new TreeRollException("http verifier: parameter 'timeout_ms' must be at least 1, got " + millis(timeout));
    }
    if (retries < 0 || retries > 20) {
      throw new TreeRollException("http verifier: parameter 'retries' must be between 0 and 20, got " + retries);
    }
    if (backoff == null || backoff.isNegative()) {
      throw new TreeRollException("http verifier: parameter 'backoff_ms' must be 0 or more, got " + millis(backoff));
    }
    if (connections < 1) {
      throw new TreeRollException("http verifier: parameter 'connections' must be at least 1, got " + connections);
    }
    if (cacheSize < 0) {
      throw new TreeRollException("http verifier: parameter 'cache_size' must be 0 or more, got " + cacheSize);
    }
    if (cacheExpiry == null || cacheExpiry.isNegative() || cacheExpiry.isZero()) {
      throw new TreeRollException("http verifier: parameter 'cache_expiry_ms' must be positive, got " + millis(cacheExpiry));
    }
  }

  /** Defaults for everything but the address. */
  public static HttpVerifierConfig of(String url) {
    return new HttpVerifierConfig(parseUrl(url), DEFAULT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_BACKOFF,
        DEFAULT_CONNECTIONS, DEFAULT_CACHE_SIZE, DEFAULT_CACHE_EXPIRY);
  }

  public HttpVerifierConfig withTimeout(Duration t) {
    return new HttpVerifierConfig(url, t, retries, backoff, connections, cacheSize, cacheExpiry);
  }

  public HttpVerifierConfig withRetries(int r, Duration b) {
    return new HttpVerifierConfig(url, timeout, r, b, connections, cacheSize, cacheExpiry);
  }

  public HttpVerifierConfig withCache(long size, Duration expiry) {
    return new HttpVerifierConfig(url, timeout, retries, backoff, connections, size, expiry);
  }

  public HttpVerifierConfig withConnections(int n) {
    return new HttpVerifierConfig(url, timeout, retries, backoff, n, cacheSize, cacheExpiry);
  }

  static URI parseUrl(String url) {
    if (url == null || url.isBlank()) {
      throw new TreeRollException("http verifier: parameter 'url' is required, e.g. http:url=http://127.0.0.1:8000/verify");
    }
    try {
      return new URI(url.strip());
    } catch (URISyntaxException e) {
      throw new TreeRollException("http verifier: parameter 'url' is not a valid address: " + e.getMessage());
    }
  }

  private static String millis(Duration d) {
    return d == null ? "nothing" : d.toMillis() + " ms";
  }
}
