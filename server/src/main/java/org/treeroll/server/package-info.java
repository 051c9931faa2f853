/**
 * The HTTP rollout server: a Vert.x web router over one embedded engine
 * ({@link org.treeroll.engine.InferenceSession}). {@link org.treeroll.server.RolloutServer} and
 * {@link org.treeroll.server.ServerOptions} are its public face; the rest is package-private.
 * Endpoints and formats: docs/http-api.md.
 */
package org.treeroll.server;
