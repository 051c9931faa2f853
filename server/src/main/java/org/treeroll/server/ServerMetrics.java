package org.treeroll.server;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToDoubleFunction;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.scheduler.EngineStats;

/**
 * Prometheus metrics through Micrometer: the engine's state (read from a stats snapshot taken
 * right before each scrape), its work counters, and request latency per route.
 */
final class ServerMetrics {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final InferenceSession session;
  private volatile EngineStats last;

  ServerMetrics(InferenceSession session, AtomicInteger inFlight) {
    this.session = session;
    long kvBytesPerPage = session.kvBytesPerPage();
    int pageSize = session.kvPageSize();
    gauge("treeroll_http_requests_in_flight", "Engine requests admitted by the server and not answered", s -> inFlight.get());
    gauge("treeroll_queue_depth", "Requests queued in the engine for the next step", s -> s.queuedRequests());
    gauge("treeroll_active_requests", "Requests being decoded", s -> s.activeRequests());
    gauge("treeroll_live_branches", "Answers being written", s -> s.liveBranches());
    gauge("treeroll_kv_pages_in_use", "KV pages held by branches, scoring and the prefix cache", s -> s.pagesInUse());
    gauge("treeroll_kv_bytes_in_use", "KV bytes held", s -> (double) s.pagesInUse() * kvBytesPerPage);
    gauge("treeroll_kv_bytes_capacity", "KV bytes in the pool", s -> (double) s.pages() * kvBytesPerPage);
    gauge("treeroll_kv_tokens_capacity", "Tokens the KV pool holds (" + session.kvDtype() + " keys and values)",
        s -> (double) s.pages() * pageSize);
    gauge("treeroll_prefix_cache_tokens", "Tokens indexed by the prefix cache", s -> s.cachedTokens());
    gauge("treeroll_weight_version", "Version of the weights serving now", s -> s.weightVersion());
    gauge("treeroll_prefix_cache_hit_ratio", "Prompt and path tokens served from the prefix cache, of all needed",
        s -> {
          double hit = s.totals().cacheHitTokens();
          double all = hit + s.totals().computedTokens();
          return all == 0 ? 0 : hit / all;
        });
    FunctionCounter.builder("treeroll_tokens_computed", session, x -> x.rolloutStats().computedTokens())
        .description("Tokens fed through the model (rate: tokens/s)").register(registry);
    FunctionCounter.builder("treeroll_prefix_cache_hit_tokens", session, x -> x.rolloutStats().cacheHitTokens())
        .description("Tokens whose KV came from the prefix cache").register(registry);
    FunctionCounter.builder("treeroll_forward_steps", session, x -> x.rolloutStats().forwardSteps())
        .description("Batched forward passes").register(registry);
  }

  private void gauge(String name, String help, ToDoubleFunction<EngineStats> f) {
    Gauge.builder(name, this, m -> m.last == null ? Double.NaN : f.applyAsDouble(m.last)).description(help)
        .register(registry);
  }

  /** Records one answered request. */
  void record(String route, int status, long nanos) {
    Timer.builder("treeroll_http_request_seconds").description("Time to answer a request")
        .tag("route", route).tag("status", String.valueOf(status))
        .publishPercentileHistogram().maximumExpectedValue(Duration.ofMinutes(10))
        .register(registry).record(Duration.ofNanos(nanos));
  }

  /** The Prometheus text exposition, after a fresh engine snapshot. */
  CompletableFuture<String> scrape() {
    return session.stats().thenApply(s -> {
      last = s;
      return registry.scrape();
    });
  }
}
