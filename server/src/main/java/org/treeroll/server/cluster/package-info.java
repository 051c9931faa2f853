/**
 * Scale-out (docs/scale-out.md): engine nodes and a router on Vert.x's clustered event bus, with
 * Hazelcast as the cluster manager. {@link org.treeroll.server.cluster.EngineNode} serves one
 * engine to the cluster and reports its model, weight version and load;
 * {@link org.treeroll.server.cluster.ClusterRouter} answers the HTTP API and sends each request
 * whole to one engine, chosen by prefix affinity ({@link org.treeroll.server.cluster.EngineSelector}),
 * with a version barrier for weight updates and re-dispatch when an engine is lost. Streams and
 * the OpenAI-compatible requests go through {@link org.treeroll.server.cluster.HttpRelay} to the
 * engine's own HTTP API; {@link org.treeroll.server.cluster.RouterMetrics} is the router's
 * {@code /metrics}.
 */
package org.treeroll.server.cluster;
