package org.treeroll.engine.runtime;

/**
 * How a checkpoint's matrices are kept in memory. BF16 and F16 checkpoints may stay as stored,
 * half the memory and half the bytes each decode step reads; the Java kernels widen them to fp32
 * in registers, exactly, so the log-probs are those of the fp32 computation on the same weights.
 */
public enum WeightPrecision {
  /**
   * 16-bit matrices stay 16-bit where the Java Vector API kernels run the steps (CPU, JDK 22+);
   * elsewhere, and for fp32 checkpoints, fp32. The log says which and why.
   */
  AS_STORED,
  /** Every weight widened to fp32 at load, twice a 16-bit checkpoint's size in memory. */
  FP32,
  /**
   * Every matrix kept in BF16 where the Java kernels run the steps: fp32 and F16 values rounded
   * to the nearest BF16 at load (lossy: 8 bits of mantissa where fp32 has 24), BF16 ones as
   * stored; half an fp32 checkpoint's memory and bytes per step. Elsewhere fp32, logged.
   */
  BF16
}
