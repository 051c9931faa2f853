package org.treeroll.server.cluster;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The router's {@code GET /metrics} (Prometheus, through Micrometer): where requests went and
 * why, re-sends, engines lost, streams broken off, and request latency per route. The engines'
 * own metrics stay on their own HTTP APIs. Touched only on the router's event loop.
 */
final class RouterMetrics {
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Counter resent;
  private final Counter enginesLost;
  private final Counter streamsBroken;
  private final Counter keySymbols;
  private final Counter matchedSymbols;

  /** Gauges read from the router when scraped. */
  record Gauges(Supplier<Number> engines, Supplier<Number> serving, Supplier<Number> weightVersion,
      Supplier<Number> inFlight, Supplier<Number> held) {}

  RouterMetrics(Gauges g) {
    resent = counter("treeroll_router_resent", "Requests sent again to another engine after theirs was lost");
    enginesLost = counter("treeroll_router_engines_lost", "Engines taken out (left, unreachable or silent)");
    streamsBroken = counter("treeroll_router_streams_broken",
        "Streams ended with a retryable error because their engine was lost after the first event");
    keySymbols = counter("treeroll_router_prompt_symbols", "Prompt symbols (code points or token ids) routed");
    matchedSymbols = counter("treeroll_router_prefix_matched_symbols",
        "Prompt symbols the chosen engine's prefix tree already held");
    gauge("treeroll_router_engines", "Engines in the cluster", g.engines());
    gauge("treeroll_router_engines_serving", "Engines at the cluster's weight version", g.serving());
    gauge("treeroll_router_weight_version", "The cluster's weight version", g.weightVersion());
    gauge("treeroll_router_requests_in_flight", "Requests sent to an engine and not answered", g.inFlight());
    gauge("treeroll_router_requests_held", "Requests held while a weight update passes", g.held());
  }

  private Counter counter(String name, String help) {
    return Counter.builder(name).description(help).register(registry);
  }

  private void gauge(String name, String help, Supplier<Number> f) {
    Gauge.builder(name, f).description(help).strongReference(true).register(registry);
  }

  /** A request sent to {@code engine} (each attempt counts), chosen for {@code choice}'s reason. */
  void dispatched(EngineSelector.Choice choice, int keyLength) {
    Counter.builder("treeroll_router_requests").description("Requests sent to each engine (re-sends included)")
        .tag("engine", choice.engine().node).register(registry).increment();
    Counter.builder("treeroll_router_routed").description("Routing choices by reason")
        .tag("reason", choice.reason().name().toLowerCase(Locale.ROOT)).register(registry).increment();
    keySymbols.increment(keyLength);
    matchedSymbols.increment(choice.matched());
  }

  void resent() {
    resent.increment();
  }

  void engineLost() {
    enginesLost.increment();
  }

  void streamBroken() {
    streamsBroken.increment();
  }

  /** Records one answered request, as an engine does ({@code treeroll_http_request_seconds}). */
  void record(String route, int status, long nanos) {
    Timer.builder("treeroll_http_request_seconds").description("Time to answer a request")
        .tag("route", route).tag("status", String.valueOf(status))
        .publishPercentileHistogram().maximumExpectedValue(Duration.ofMinutes(10))
        .register(registry).record(Duration.ofNanos(nanos));
  }

  String scrape() {
    return registry.scrape();
  }
}
