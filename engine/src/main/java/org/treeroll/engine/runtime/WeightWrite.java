package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * New values for a box of a weight array: rows {@code [rowFrom, rowTo)} by columns
 * {@code [colFrom, colTo)} of its last axis (a 1-D array has one row), row-major, as fp32
 * {@code values} or, for a 16-bit array sent its own type, as the {@code bits} to store (exactly
 * one is not null). A fused matrix takes one write per block it holds, e.g. q_proj's columns of
 * the fused q/k/v.
 */
record WeightWrite(SharedArray target, int rowFrom, int rowTo, int colFrom, int colTo, float[] values, short[] bits) {
  WeightWrite {
    if ((values == null) == (bits == null)) {
      throw new IllegalArgumentException("a write carries either fp32 values or 16-bit bits");
    }
    if (bits != null && target.type() == org.treeroll.engine.io.DType.F32) {
      throw new IllegalArgumentException("16-bit bits for an fp32 array");
    }
    int length = values != null ? values.length : bits.length;
    if ((long) (rowTo - rowFrom) * (colTo - colFrom) != length) {
      throw new IllegalArgumentException("a write of rows [" + rowFrom + ", " + rowTo + ") by columns ["
          + colFrom + ", " + colTo + ") needs " + (long) (rowTo - rowFrom) * (colTo - colFrom)
          + " values, got " + length);
    }
  }

  WeightWrite(SharedArray target, int rowFrom, int rowTo, int colFrom, int colTo, float[] values) {
    this(target, rowFrom, rowTo, colFrom, colTo, values, null);
  }

  /** The whole of a 1-D array, or of a 2-D one of {@code rows} rows. */
  static WeightWrite whole(SharedArray target, float[] values) {
    Shape s = target.shape();
    int rows = s.dimension() == 1 ? 1 : (int) s.get(0);
    return new WeightWrite(target, 0, rows, 0, (int) s.get(s.dimension() - 1), values);
  }

  /** Columns {@code [from, to)} of every row. */
  static WeightWrite columns(SharedArray target, int from, int to, float[] values) {
    Shape s = target.shape();
    int rows = s.dimension() == 1 ? 1 : (int) s.get(0);
    return new WeightWrite(target, 0, rows, from, to, values);
  }

  /** Columns {@code [from, to)} of every row of a 16-bit array, stored as these bits. */
  static WeightWrite columns(SharedArray target, int from, int to, short[] bits) {
    return new WeightWrite(target, 0, (int) target.shape().get(0), from, to, null, bits);
  }

  /** Bytes it writes. */
  long bytes() {
    return (long) target.type().bytes() * (values != null ? values.length : bits.length);
  }

  /**
   * Copies the values in place: into the shared memory where Java sees the array (PyTorch reads
   * the same bytes), else through PyTorch ({@code scratch} holds the temporary it copies from).
   */
  void apply(NDManager scratch) {
    Shape shape = target.shape();
    int width = (int) shape.get(shape.dimension() - 1);
    int cols = colTo - colFrom;
    if (bits != null) {
      for (int r = rowFrom; r < rowTo; r++) {
        target.putBits((long) r * width + colFrom, bits, (r - rowFrom) * cols, cols);
      }
      return;
    }
    if (target.visibleToJava()) {
      if (cols == width) {
        target.put((long) rowFrom * width, values, 0, values.length); // whole rows are contiguous
      } else {
        for (int r = rowFrom; r < rowTo; r++) {
          target.put((long) r * width + colFrom, values, (r - rowFrom) * cols, cols);
        }
      }
      return;
    }
    boolean flat = shape.dimension() == 1;
    NDIndex at = flat ? new NDIndex("{}:{}", (long) colFrom, (long) colTo)
        : new NDIndex("{}:{}, {}:{}", (long) rowFrom, (long) rowTo, (long) colFrom, (long) colTo);
    Shape box = flat ? new Shape(cols) : new Shape(rowTo - rowFrom, cols);
    target.array().set(at, scratch.create(values, box));
  }
}
