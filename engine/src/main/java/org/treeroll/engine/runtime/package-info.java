/**
 * The model runtime: {@link org.treeroll.engine.runtime.LlamaDecoder} on DJL's PyTorch engine,
 * with its forward steps on the Java Vector API kernels where the JDK and device allow (chosen
 * once per model and logged with the reason), the paged KV store, in-place weight updates, and
 * the generators and scorers that drive forward steps.
 */
package org.treeroll.engine.runtime;
