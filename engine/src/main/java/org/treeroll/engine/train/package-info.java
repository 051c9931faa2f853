/**
 * Supervised training of the bundled model with DJL autograd: the trainable decoder, AdamW, the
 * training loop and its loss curve.
 */
package org.treeroll.engine.train;
