/**
 * Sampling: next-token distributions computed in the engine, per-sequence seeded draws with
 * exact log-probs, entropies and top candidates, and the request's sampling parameters.
 */
package org.treeroll.engine.sampling;
