package org.treeroll.engine.runtime;

import org.treeroll.engine.io.DType;

/**
 * How the KV pages store keys and values. fp32 is the default. BF16 halves a token's KV bytes, so
 * the same budget holds twice the pages (twice the leaves of a tree); the Java Vector API
 * kernels round each key and value to BF16 once, when it is written, widen it back to fp32 in
 * registers when attention reads it, and accumulate in fp32. Lossy: the log-prob difference it
 * causes is measured in docs/benchmarks.md ({@code bench kv-dtype}). BF16 rather than F16: it
 * keeps fp32's exponent range, so no key or value can overflow (F16 stops at 65504, and some
 * models' keys carry large outliers), and widening is one shift.
 */
public enum KvDtype {
  F32(DType.F32),
  BF16(DType.BF16);

  private final DType storage;

  KvDtype(DType storage) {
    this.storage = storage;
  }

  /** The element type in the pages. */
  public DType storage() {
    return storage;
  }

  /** Bytes per stored key or value element. */
  public int bytes() {
    return storage.bytes();
  }
}
