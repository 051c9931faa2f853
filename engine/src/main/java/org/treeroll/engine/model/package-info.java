/**
 * Model configurations (config.json, refusing what is not supported), HF weight names, presets
 * and the writer of random checkpoints used by tests and benchmarks.
 */
package org.treeroll.engine.model;
