/**
 * The tree viewer: one self-contained HTML page (data, script and style inline, nothing fetched)
 * that draws rollout trees, written by {@code treeroll view} and served for finished rollouts.
 */
package org.treeroll.viewer;
