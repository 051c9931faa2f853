package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * New values for a box of a weight array: rows {@code [rowFrom, rowTo)} by columns
 * {@code [colFrom, colTo)} of its last axis (a 1-D array has one row), {@code values} row-major.
 * A fused matrix takes one write per block it holds, e.g. q_proj's columns of the fused q/k/v.
 */
record WeightWrite(SharedArray target, int rowFrom, int rowTo, int colFrom, int colTo, float[] values) {
  WeightWrite {
    if ((long) (rowTo - rowFrom) * (colTo - colFrom) != values.length) {
      throw new IllegalArgumentException("a write of rows [" + rowFrom + ", " + rowTo + ") by columns ["
          + colFrom + ", " + colTo + ") needs " + (long) (rowTo - rowFrom) * (colTo - colFrom)
          + " values, got " + values.length);
    }
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

  /** Bytes it writes. */
  long bytes() {
    return (long) target.type().bytes() * values.length;
  }

  /**
   * Copies the values in place: into the shared memory where Java sees the array (PyTorch reads
   * the same bytes), else through PyTorch ({@code scratch} holds the temporary it copies from).
   */
  void apply(NDManager scratch) {
    Shape shape = target.shape();
    int width = (int) shape.get(shape.dimension() - 1);
    int cols = colTo - colFrom;
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
