package org.treeroll.engine.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;
import org.treeroll.engine.io.DType;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Matrix products on the JDK's Vector API, for {@link VectorForward}, over weights stored
 * {@code [in, out]}. Two kernels:
 *
 * <ul>
 *   <li>Register tiles of 8 rows by 3 vectors of outputs: each loaded weight vector serves 8
 *       rows, each broadcast input 3 vectors. A thread owns a range of 48-column panels and
 *       walks the inputs in blocks that keep the panel's slice in L2 across row tiles. 200-280
 *       GFLOP/s at 64 rows on two cores here, where MKL through PyTorch reaches 85-150 at the same
 *       shapes (docs/benchmarks.md).
 *   <li>For one row (batch-1 decode), pairs (or on the LM head quads) of weight rows scaled and
 *       summed, each thread streaming its own contiguous range of inputs into a private partial
 *       result: 44-93 GB/s on the layers' matrices here where the tiles read 25-35.
 * </ul>
 *
 * <p>Vectors never pass through a method call: C2 must then box them, and a tile kernel that
 * handed its accumulators to a store helper ran 4-6x slower.
 */
final class VectorKernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder ORDER = ByteOrder.nativeOrder();
  private static final int THREADS = Runtime.getRuntime().availableProcessors();
  /** Register tile of the in-major product: rows of x per tile (8 fit 24 accumulators in 32 registers). */
  private static final int TILE_ROWS = S.vectorBitSize() >= 512 ? 8 : 4;
  /** Output widths from which the one-row kernel sums four weight rows per pass, not two. */
  static final int QUADS_MIN_OUT = 1 << 15;
  /** Inputs per pass over a panel: its slice of the weights (512 x 48 floats) stays in L2 across row tiles. */
  private static final int K_BLOCK = 512;
  /** The calling thread runs one share; these run the others, for one caller at a time. */
  private static final Helper[] HELPERS = new Helper[THREADS - 1];
  private static final ReentrantLock TEAM_LOCK = new ReentrantLock();
  private static final int WARM_UP_ROUNDS = 3000;
  private static final AtomicBoolean WARM_UP_STARTED = new AtomicBoolean();
  private static volatile DType warmHalf;
  private static final Thread WARM_UP =
      Thread.ofPlatform().daemon().name("treeroll-kernel-warmup").unstarted(VectorKernels::warmUp);

  static {
    for (int i = 0; i < HELPERS.length; i++) {
      HELPERS[i] = new Helper(i);
      HELPERS[i].start();
    }
  }

  private VectorKernels() {}

  /**
   * {@code y[r, :] = x[r, :] W} for {@code rows} input rows, {@code W} stored {@code [in, out]}.
   * {@code fixedOrder}: every row through the tiles, even a lone one. A tile sums each output over
   * the inputs in blocks of {@code K_BLOCK}, in order, whatever the number of rows and whichever
   * tile shape serves the row, so a row's result does not depend on its batch; the one-row kernel
   * sums per-thread input ranges and adds them at the end, which rounds differently.
   */
  static void matmul(MemorySegment w, int in, int out, float[] x, int rows, float[] y, boolean fixedOrder) {
    if (rows == 1 && !fixedOrder) {
      rowSums(w, in, out, x, y);
    } else {
      tiledInMajor(w, in, out, x, rows, y);
    }
  }

  /**
   * {@code W[in, out]} for many rows: register tiles of {@code TILE_ROWS} rows by three vectors of
   * outputs, each weight vector loaded once per tile and used for every row of it. A thread owns a
   * range of output columns, so the column panel it reads stays in its cache across row tiles.
   */
  private static void tiledInMajor(MemorySegment w, int in, int out, float[] x, int rows, float[] y) {
    int width = 3 * L;
    if (out < width) {
      for (int j = 0; j < out; j += L) {
        var m = S.indexInRange(j, out);
        for (int i = 0; i < rows; i++) {
          tile1x1(w, in, out, x, i, j, m, y);
        }
      }
      return;
    }
    // Columns past the last whole panel: one more panel ending at the last column, run by the
    // thread that owns the last whole one, after it, so the columns they share end with a
    // complete sum (a few redundant columns instead of a slow tail kernel).
    int whole = out / width;
    parallel(whole, 1, (from, to) -> {
      for (int p = from; p < to; p++) {
        panel(w, in, out, x, rows, p * width, y);
      }
      if (to == whole && out % width != 0) {
        panel(w, in, out, x, rows, out - width, y);
      }
    });
  }

  /** Output columns {@code [j, j + 3L)} of every row. */
  private static void panel(MemorySegment w, int in, int out, float[] x, int rows, int j, float[] y) {
    for (int k0 = 0; k0 < in; k0 += K_BLOCK) {
      int k1 = Math.min(in, k0 + K_BLOCK);
      panelTiles(w, 4L * ((long) k0 * out + j), 4L * out, x, in, rows, k0, k1, k0 > 0, y, out, j);
    }
  }

  /**
   * Every row's columns {@code [j, j + 3L)} over inputs {@code [k0, k1)}: fp32 weights at bytes
   * {@code at} (row {@code k0}, column {@code j}), {@code stride} bytes from one input's row to the
   * next; added to {@code y} if {@code add}. The tiles of {@link HalfKernels} too, over a block of
   * its 16-bit weights widened once.
   */
  static void panelTiles(MemorySegment w, long at, long stride, float[] x, int in, int rows, int k0, int k1,
      boolean add, float[] y, int out, int j) {
    int i = 0;
    if (TILE_ROWS == 8) {
      for (; i + 8 <= rows; i += 8) {
        tile8x3(w, at, stride, in, x, i, j, k0, k1, add, y, out);
      }
    }
    for (; i + 4 <= rows; i += 4) {
      tile4x3(w, at, stride, in, x, i, j, k0, k1, add, y, out);
    }
    for (; i < rows; i++) {
      tile1x3(w, at, stride, in, x, i, j, k0, k1, add, y, out);
    }
  }

  private static void tile8x3(MemorySegment w, long at0, long stride, int in, float[] x, int i, int j, int k0, int k1,
      boolean add, float[] y, int out) {
    FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    FloatVector c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    FloatVector c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    int x0 = i * in;
    long at = at0;
    for (int k = k0; k < k1; k++, at += stride) {
      FloatVector b0 = FloatVector.fromMemorySegment(S, w, at, ORDER);
      FloatVector b1 = FloatVector.fromMemorySegment(S, w, at + 4L * L, ORDER);
      FloatVector b2 = FloatVector.fromMemorySegment(S, w, at + 8L * L, ORDER);
      int xk = x0 + k;
      FloatVector a = FloatVector.broadcast(S, x[xk]);
      c00 = b0.fma(a, c00); c01 = b1.fma(a, c01); c02 = b2.fma(a, c02);
      a = FloatVector.broadcast(S, x[xk + in]);
      c10 = b0.fma(a, c10); c11 = b1.fma(a, c11); c12 = b2.fma(a, c12);
      a = FloatVector.broadcast(S, x[xk + 2 * in]);
      c20 = b0.fma(a, c20); c21 = b1.fma(a, c21); c22 = b2.fma(a, c22);
      a = FloatVector.broadcast(S, x[xk + 3 * in]);
      c30 = b0.fma(a, c30); c31 = b1.fma(a, c31); c32 = b2.fma(a, c32);
      a = FloatVector.broadcast(S, x[xk + 4 * in]);
      c40 = b0.fma(a, c40); c41 = b1.fma(a, c41); c42 = b2.fma(a, c42);
      a = FloatVector.broadcast(S, x[xk + 5 * in]);
      c50 = b0.fma(a, c50); c51 = b1.fma(a, c51); c52 = b2.fma(a, c52);
      a = FloatVector.broadcast(S, x[xk + 6 * in]);
      c60 = b0.fma(a, c60); c61 = b1.fma(a, c61); c62 = b2.fma(a, c62);
      a = FloatVector.broadcast(S, x[xk + 7 * in]);
      c70 = b0.fma(a, c70); c71 = b1.fma(a, c71); c72 = b2.fma(a, c72);
    }
    int y0 = i * out + j;
    (add ? c00.add(FloatVector.fromArray(S, y, y0)) : c00).intoArray(y, y0);
    (add ? c01.add(FloatVector.fromArray(S, y, y0 + L)) : c01).intoArray(y, y0 + L);
    (add ? c02.add(FloatVector.fromArray(S, y, y0 + 2 * L)) : c02).intoArray(y, y0 + 2 * L);
    (add ? c10.add(FloatVector.fromArray(S, y, y0 + out)) : c10).intoArray(y, y0 + out);
    (add ? c11.add(FloatVector.fromArray(S, y, y0 + out + L)) : c11).intoArray(y, y0 + out + L);
    (add ? c12.add(FloatVector.fromArray(S, y, y0 + out + 2 * L)) : c12).intoArray(y, y0 + out + 2 * L);
    (add ? c20.add(FloatVector.fromArray(S, y, y0 + 2 * out)) : c20).intoArray(y, y0 + 2 * out);
    (add ? c21.add(FloatVector.fromArray(S, y, y0 + 2 * out + L)) : c21).intoArray(y, y0 + 2 * out + L);
    (add ? c22.add(FloatVector.fromArray(S, y, y0 + 2 * out + 2 * L)) : c22).intoArray(y, y0 + 2 * out + 2 * L);
    (add ? c30.add(FloatVector.fromArray(S, y, y0 + 3 * out)) : c30).intoArray(y, y0 + 3 * out);
    (add ? c31.add(FloatVector.fromArray(S, y, y0 + 3 * out + L)) : c31).intoArray(y, y0 + 3 * out + L);
    (add ? c32.add(FloatVector.fromArray(S, y, y0 + 3 * out + 2 * L)) : c32).intoArray(y, y0 + 3 * out + 2 * L);
    (add ? c40.add(FloatVector.fromArray(S, y, y0 + 4 * out)) : c40).intoArray(y, y0 + 4 * out);
    (add ? c41.add(FloatVector.fromArray(S, y, y0 + 4 * out + L)) : c41).intoArray(y, y0 + 4 * out + L);
    (add ? c42.add(FloatVector.fromArray(S, y, y0 + 4 * out + 2 * L)) : c42).intoArray(y, y0 + 4 * out + 2 * L);
    (add ? c50.add(FloatVector.fromArray(S, y, y0 + 5 * out)) : c50).intoArray(y, y0 + 5 * out);
    (add ? c51.add(FloatVector.fromArray(S, y, y0 + 5 * out + L)) : c51).intoArray(y, y0 + 5 * out + L);
    (add ? c52.add(FloatVector.fromArray(S, y, y0 + 5 * out + 2 * L)) : c52).intoArray(y, y0 + 5 * out + 2 * L);
    (add ? c60.add(FloatVector.fromArray(S, y, y0 + 6 * out)) : c60).intoArray(y, y0 + 6 * out);
    (add ? c61.add(FloatVector.fromArray(S, y, y0 + 6 * out + L)) : c61).intoArray(y, y0 + 6 * out + L);
    (add ? c62.add(FloatVector.fromArray(S, y, y0 + 6 * out + 2 * L)) : c62).intoArray(y, y0 + 6 * out + 2 * L);
    (add ? c70.add(FloatVector.fromArray(S, y, y0 + 7 * out)) : c70).intoArray(y, y0 + 7 * out);
    (add ? c71.add(FloatVector.fromArray(S, y, y0 + 7 * out + L)) : c71).intoArray(y, y0 + 7 * out + L);
    (add ? c72.add(FloatVector.fromArray(S, y, y0 + 7 * out + 2 * L)) : c72).intoArray(y, y0 + 7 * out + 2 * L);
  }

  /**
   * A near-copy of {@link #tile8x3} on purpose: its vectors cannot go through a shared helper
   * without boxing. It serves AVX2 (16 registers) and the 4-7 rows left after the 8-row tiles.
   */
  private static void tile4x3(MemorySegment w, long at0, long stride, int in, float[] x, int i, int j, int k0, int k1,
      boolean add, float[] y, int out) {
    FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    int x0 = i * in;
    long at = at0;
    for (int k = k0; k < k1; k++, at += stride) {
      FloatVector b0 = FloatVector.fromMemorySegment(S, w, at, ORDER);
      FloatVector b1 = FloatVector.fromMemorySegment(S, w, at + 4L * L, ORDER);
      FloatVector b2 = FloatVector.fromMemorySegment(S, w, at + 8L * L, ORDER);
      int xk = x0 + k;
      FloatVector a = FloatVector.broadcast(S, x[xk]);
      c00 = b0.fma(a, c00); c01 = b1.fma(a, c01); c02 = b2.fma(a, c02);
      a = FloatVector.broadcast(S, x[xk + in]);
      c10 = b0.fma(a, c10); c11 = b1.fma(a, c11); c12 = b2.fma(a, c12);
      a = FloatVector.broadcast(S, x[xk + 2 * in]);
      c20 = b0.fma(a, c20); c21 = b1.fma(a, c21); c22 = b2.fma(a, c22);
      a = FloatVector.broadcast(S, x[xk + 3 * in]);
      c30 = b0.fma(a, c30); c31 = b1.fma(a, c31); c32 = b2.fma(a, c32);
    }
    int y0 = i * out + j;
    (add ? c00.add(FloatVector.fromArray(S, y, y0)) : c00).intoArray(y, y0);
    (add ? c01.add(FloatVector.fromArray(S, y, y0 + L)) : c01).intoArray(y, y0 + L);
    (add ? c02.add(FloatVector.fromArray(S, y, y0 + 2 * L)) : c02).intoArray(y, y0 + 2 * L);
    (add ? c10.add(FloatVector.fromArray(S, y, y0 + out)) : c10).intoArray(y, y0 + out);
    (add ? c11.add(FloatVector.fromArray(S, y, y0 + out + L)) : c11).intoArray(y, y0 + out + L);
    (add ? c12.add(FloatVector.fromArray(S, y, y0 + out + 2 * L)) : c12).intoArray(y, y0 + out + 2 * L);
    (add ? c20.add(FloatVector.fromArray(S, y, y0 + 2 * out)) : c20).intoArray(y, y0 + 2 * out);
    (add ? c21.add(FloatVector.fromArray(S, y, y0 + 2 * out + L)) : c21).intoArray(y, y0 + 2 * out + L);
    (add ? c22.add(FloatVector.fromArray(S, y, y0 + 2 * out + 2 * L)) : c22).intoArray(y, y0 + 2 * out + 2 * L);
    (add ? c30.add(FloatVector.fromArray(S, y, y0 + 3 * out)) : c30).intoArray(y, y0 + 3 * out);
    (add ? c31.add(FloatVector.fromArray(S, y, y0 + 3 * out + L)) : c31).intoArray(y, y0 + 3 * out + L);
    (add ? c32.add(FloatVector.fromArray(S, y, y0 + 3 * out + 2 * L)) : c32).intoArray(y, y0 + 3 * out + 2 * L);
  }

  private static void tile1x3(MemorySegment w, long at0, long stride, int in, float[] x, int i, int j, int k0, int k1,
      boolean add, float[] y, int out) {
    FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0;
    int x0 = i * in;
    long at = at0;
    for (int k = k0; k < k1; k++, at += stride) {
      FloatVector a = FloatVector.broadcast(S, x[x0 + k]);
      c0 = FloatVector.fromMemorySegment(S, w, at, ORDER).fma(a, c0);
      c1 = FloatVector.fromMemorySegment(S, w, at + 4L * L, ORDER).fma(a, c1);
      c2 = FloatVector.fromMemorySegment(S, w, at + 8L * L, ORDER).fma(a, c2);
    }
    (add ? c0.add(FloatVector.fromArray(S, y, i * out + j)) : c0).intoArray(y, i * out + j);
    (add ? c1.add(FloatVector.fromArray(S, y, i * out + j + L)) : c1).intoArray(y, i * out + j + L);
    (add ? c2.add(FloatVector.fromArray(S, y, i * out + j + 2 * L)) : c2).intoArray(y, i * out + j + 2 * L);
  }

  /** One row by one vector of outputs, lanes past the matrix masked off. */
  private static void tile1x1(MemorySegment w, int in, int out, float[] x, int i, int j,
      VectorMask<Float> m, float[] y) {
    FloatVector c = FloatVector.zero(S);
    int x0 = i * in;
    long stride = 4L * out;
    long at = 4L * j;
    for (int k = 0; k < in; k++, at += stride) {
      c = FloatVector.fromMemorySegment(S, w, at, ORDER, m).fma(FloatVector.broadcast(S, x[x0 + k]), c);
    }
    c.intoArray(y, i * out + j, m);
  }

  /**
   * One input row: {@code y += x[i] W[i, :]} over pairs of weight rows, or quads on very wide
   * matrices. Each thread owns a range of inputs, so it reads one contiguous stretch of the
   * weights from start to end, and keeps a private partial result, summed at the end. Pairs on
   * the layers' matrices, whose partial stays in L1: four rows per pass, or tiles over column
   * panels, broke the stream into strided pieces and read at half the speed. Quads on the LM
   * head, whose partial (600 KB) lives in L2: loading and storing it once per four weight rows
   * read at 37-51 GB/s against 31-33 for pairs (probed).
   */
  private static void rowSums(MemorySegment w, int in, int out, float[] x, float[] y) {
    int parts = rowParts(in);
    float[][] partials = new float[parts][];
    parallelParts(parts, p -> {
      int from = rowSplit(in, parts, p);
      int to = rowSplit(in, parts, p + 1);
      float[] acc = p == 0 ? y : new float[out];
      if (p == 0) {
        java.util.Arrays.fill(acc, 0, out, 0f);
      }
      int ub = S.loopBound(out);
      long stride = 4L * out;
      int i = from;
      if (out >= QUADS_MIN_OUT) {
        for (; i + 4 <= to; i += 4) {
          FloatVector x0 = FloatVector.broadcast(S, x[i]);
          FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
          FloatVector x2 = FloatVector.broadcast(S, x[i + 2]);
          FloatVector x3 = FloatVector.broadcast(S, x[i + 3]);
          long row = 4L * i * out;
          for (int j = 0; j < ub; j += L) {
            long at = row + 4L * j;
            FloatVector v = FloatVector.fromArray(S, acc, j);
            v = FloatVector.fromMemorySegment(S, w, at, ORDER).fma(x0, v);
            v = FloatVector.fromMemorySegment(S, w, at + stride, ORDER).fma(x1, v);
            v = FloatVector.fromMemorySegment(S, w, at + 2 * stride, ORDER).fma(x2, v);
            v = FloatVector.fromMemorySegment(S, w, at + 3 * stride, ORDER).fma(x3, v);
            v.intoArray(acc, j);
          }
          for (int j = ub; j < out; j++) {
            for (int k = i; k < i + 4; k++) {
              acc[j] += x[k] * w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) k * out + j);
            }
          }
        }
      }
      for (; i + 2 <= to; i += 2) {
        FloatVector x0 = FloatVector.broadcast(S, x[i]);
        FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
        long row = 4L * i * out;
        for (int j = 0; j < ub; j += L) {
          long at = row + 4L * j;
          FloatVector v = FloatVector.fromArray(S, acc, j);
          v = FloatVector.fromMemorySegment(S, w, at, ORDER).fma(x0, v);
          v = FloatVector.fromMemorySegment(S, w, at + stride, ORDER).fma(x1, v);
          v.intoArray(acc, j);
        }
        for (int j = ub; j < out; j++) {
          acc[j] += x[i] * w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * out + j)
              + x[i + 1] * w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) (i + 1) * out + j);
        }
      }
      if (i < to) {
        axpy(x[i], w, 4L * i * out, acc, 0, out);
      }
      partials[p] = acc;
    });
    for (int p = 1; p < parts; p++) {
      add(y, partials[p], out);
    }
  }

  /**
   * {@code sum_k w[base/4 + k] * x[xo + k]} over {@code n} floats. {@code lanes}, an
   * {@code L}-float scratch array or null: if given, the vector's lanes are stored there and added
   * in index order (fixed order). {@code reduceLanes(ADD)} on floats may add them in any order, and
   * does: in order in the Vector API's Java fallback, as a tree once C2 compiles it (probed: 70% of
   * 16-lane sums differ), so its result depends on when the JIT got to the caller.
   */
  static float dot(MemorySegment w, long base, float[] x, int xo, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = FloatVector.zero(S);
    FloatVector a2 = FloatVector.zero(S);
    FloatVector a3 = FloatVector.zero(S);
    int i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
      long at = base + 4L * i;
      a0 = FloatVector.fromMemorySegment(S, w, at, ORDER).fma(FloatVector.fromArray(S, x, xo + i), a0);
      a1 = FloatVector.fromMemorySegment(S, w, at + 4L * L, ORDER).fma(FloatVector.fromArray(S, x, xo + i + L), a1);
      a2 = FloatVector.fromMemorySegment(S, w, at + 8L * L, ORDER).fma(FloatVector.fromArray(S, x, xo + i + 2 * L), a2);
      a3 = FloatVector.fromMemorySegment(S, w, at + 12L * L, ORDER).fma(FloatVector.fromArray(S, x, xo + i + 3 * L), a3);
    }
    for (; i + L <= n; i += L) {
      a0 = FloatVector.fromMemorySegment(S, w, base + 4L * i, ORDER).fma(FloatVector.fromArray(S, x, xo + i), a0);
    }
    float s = sumLanes(a0.add(a1).add(a2.add(a3)), lanes);
    for (; i < n; i++) {
      s += w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, base + 4L * i) * x[xo + i];
    }
    return s;
  }

  /** The sum of {@code v}'s lanes: in index order through {@code lanes} if given, else as {@code reduceLanes} adds them (see {@link #dot}). */
  static float sumLanes(FloatVector v, float[] lanes) {
    if (lanes == null) {
      return v.reduceLanes(VectorOperators.ADD);
    }
    v.intoArray(lanes, 0);
    float s = 0;
    for (int lane = 0; lane < L; lane++) {
      s += lanes[lane];
    }
    return s;
  }

  /**
   * Attention scores over fp32 KV rows: {@code scores[g * stride + l] = dot(row l + offset, query g) * scale}
   * ({@link #dot}, so in its order), rows at bytes {@code rows[l]}, queries {@code hd} floats apart from {@code q0}.
   */
  static void scores(MemorySegment kv, long[] rows, int len, long offset, float[] q, int q0, int hd, int group,
      float scale, float[] scores, int stride, float[] lanes) {
    for (int l = 0; l < len; l++) {
      for (int g = 0; g < group; g++) {
        scores[g * stride + l] = dot(kv, rows[l] + offset, q, q0 + g * hd, hd, lanes) * scale;
      }
    }
  }

  /**
   * Attention's weighted sum over fp32 KV rows: {@code y[yo + g * hd + i] += p[g * stride + l] * (row l + offset)[i]},
   * each element's fused multiply-adds in row order, as {@link #axpy} row by row would do them. The
   * partial sums stay in registers over all rows: updating {@code y} in memory row after row made
   * each step wait for the last one's store.
   */
  static void mix(MemorySegment kv, long[] rows, int len, long offset, float[] p, int stride, int group, float[] y,
      int yo, int hd) {
    for (int g = 0; g < group; g++) {
      int pg = g * stride;
      int yg = yo + g * hd;
      int i = 0;
      for (; i + 4 * L <= hd; i += 4 * L) {
        FloatVector a0 = FloatVector.fromArray(S, y, yg + i);
        FloatVector a1 = FloatVector.fromArray(S, y, yg + i + L);
        FloatVector a2 = FloatVector.fromArray(S, y, yg + i + 2 * L);
        FloatVector a3 = FloatVector.fromArray(S, y, yg + i + 3 * L);
        for (int l = 0; l < len; l++) {
          long at = rows[l] + offset + 4L * i;
          FloatVector w = FloatVector.broadcast(S, p[pg + l]);
          a0 = FloatVector.fromMemorySegment(S, kv, at, ORDER).fma(w, a0);
          a1 = FloatVector.fromMemorySegment(S, kv, at + 4L * L, ORDER).fma(w, a1);
          a2 = FloatVector.fromMemorySegment(S, kv, at + 8L * L, ORDER).fma(w, a2);
          a3 = FloatVector.fromMemorySegment(S, kv, at + 12L * L, ORDER).fma(w, a3);
        }
        a0.intoArray(y, yg + i);
        a1.intoArray(y, yg + i + L);
        a2.intoArray(y, yg + i + 2 * L);
        a3.intoArray(y, yg + i + 3 * L);
      }
      for (; i + L <= hd; i += L) {
        FloatVector a = FloatVector.fromArray(S, y, yg + i);
        for (int l = 0; l < len; l++) {
          a = FloatVector.fromMemorySegment(S, kv, rows[l] + offset + 4L * i, ORDER).fma(FloatVector.broadcast(S, p[pg + l]), a);
        }
        a.intoArray(y, yg + i);
      }
      for (; i < hd; i++) {
        float a = y[yg + i];
        for (int l = 0; l < len; l++) {
          a += p[pg + l] * kv.get(ValueLayout.JAVA_FLOAT_UNALIGNED, rows[l] + offset + 4L * i);
        }
        y[yg + i] = a;
      }
    }
  }

  /** {@code y[yo..] += a * w[base/4 ..]} over {@code n} floats. */
  static void axpy(float a, MemorySegment w, long base, float[] y, int yo, int n) {
    int i = 0;
    for (; i + L <= n; i += L) {
      FloatVector.fromMemorySegment(S, w, base + 4L * i, ORDER)
          .fma(FloatVector.broadcast(S, a), FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
    }
    for (; i < n; i++) {
      y[yo + i] += a * w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, base + 4L * i);
    }
  }

  /**
   * {@code act[t, k] = silu(gate[t, k]) * up[t, k]} for rows {@code [gate | up]} of width {@code 2 ff}.
   * {@code fixedOrder}: scalar {@link Math#exp} only, as the reference forward computes it.
   * Otherwise in vectors through {@link #expNonPositive} of {@code -|g|} ({@code silu(g) = g /
   * (1 + e^-g)}, or {@code g e^g / (1 + e^g)} for negative {@code g}), never the Vector API's
   * EXP: that gives {@code Math.exp}'s values in the API's Java fallback and a vector library's
   * once C2 has compiled it (about 1% of floats differ by an ulp, probed), so a step's values
   * would depend on when the JIT got to it.
   */
  static void siluMul(float[] gateUp, int ff, int rows, float[] act, boolean fixedOrder) {
    if (fixedOrder) {
      // Element-wise, so split over the cores as the scalar exp is slow (each element's value
      // does not depend on who computes it).
      parallel(rows * ff, 4096, (from, to) -> {
        for (int i = from; i < to; i++) {
          int t = i / ff;
          float g = gateUp[i + t * ff];
          act[i] = g / (1f + (float) Math.exp(-g)) * gateUp[i + (t + 1) * ff];
        }
      });
      return;
    }
    for (int t = 0; t < rows; t++) {
      int g0 = t * 2 * ff;
      int u0 = g0 + ff;
      int a0 = t * ff;
      int k = 0;
      for (int ub = S.loopBound(ff); k < ub; k += L) {
        FloatVector g = FloatVector.fromArray(S, gateUp, g0 + k);
        FloatVector e = expNonPositive(g.abs().neg());
        FloatVector numerator = g.mul(FloatVector.broadcast(S, 1f).blend(e, g.compare(VectorOperators.LT, 0f)));
        numerator.div(e.add(1f)).mul(FloatVector.fromArray(S, gateUp, u0 + k)).intoArray(act, a0 + k);
      }
      for (; k < ff; k++) {
        float g = gateUp[g0 + k];
        act[a0 + k] = g / (1f + (float) Math.exp(-g)) * gateUp[u0 + k];
      }
    }
  }

  /**
   * {@code s[at, at + len)} replaced by its softmax, in vectors: the largest value, then each
   * {@code exp(s - max)} ({@link #expNonPositive}) and their sum, then each divided by the sum.
   */
  static void softmax(float[] s, int at, int len) {
    int end = at + len;
    float max = max(s, at, len);
    int i = at;
    FloatVector sums = FloatVector.zero(S);
    for (int ub = at + S.loopBound(len); i < ub; i += L) {
      FloatVector e = expNonPositive(FloatVector.fromArray(S, s, i).sub(max));
      e.intoArray(s, i);
      sums = sums.add(e);
    }
    float sum = sums.reduceLanes(VectorOperators.ADD);
    for (; i < end; i++) {
      s[i] = (float) Math.exp(s[i] - max);
      sum += s[i];
    }
    float inv = 1f / sum;
    i = at;
    for (int ub = at + S.loopBound(len); i < ub; i += L) {
      FloatVector.fromArray(S, s, i).mul(inv).intoArray(s, i);
    }
    for (; i < end; i++) {
      s[i] *= inv;
    }
  }

  /**
   * The next-token distribution of each row of {@code logits [rows, vocab]} at its temperature:
   * {@code probs} the softmax of {@code logits / t}, {@code entropies} its entropy in nats. Rows
   * split over the cores. In vectors ({@link #expNonPositive}); the sums add blocks of
   * {@link #SUM_BLOCK} lanes' partial sums in double, so a 150k vocabulary loses no more than a
   * few ulps to their length. Sums in lanes, so not in fixed order.
   */
  static void distributions(float[] logits, int vocab, float[] temperatures, float[] probs, float[] entropies) {
    parallel(temperatures.length, 1, (from, to) -> {
      for (int r = from; r < to; r++) {
        entropies[r] = distribution(logits, r * vocab, vocab, 1f / temperatures[r], probs);
      }
    });
  }

  /**
   * For each row {@code r} of {@code logits [rows, vocab]} at inverse temperature {@code invT}:
   * {@code logProbs[r]}, the log-softmax at {@code targets[r]}, and {@code entropies[r]}, in one
   * pass that writes no probabilities (scoring keeps two floats a row). Rows split over the cores;
   * sums as in {@link #distributions}.
   */
  static void scores(float[] logits, int vocab, int[] targets, float invT, float[] logProbs, float[] entropies) {
    parallel(targets.length, 1, (from, to) -> {
      for (int r = from; r < to; r++) {
        int at = r * vocab;
        float m = max(logits, at, vocab) * invT;
        double[] sums = expSums(logits, at, vocab, invT, m);
        double logSum = Math.log(sums[0]);
        logProbs[r] = (float) ((double) (logits[at + targets[r]] * invT - m) - logSum);
        entropies[r] = (float) (logSum - sums[1] / sums[0]);
      }
    });
  }

  /** {@code sum e^u} and {@code sum u e^u} over {@code u = z / t - m} of one row, blocks summed in double. */
  private static double[] expSums(float[] z, int at, int vocab, float invT, float m) {
    int end = at + vocab;
    int ub = at + S.loopBound(vocab);
    double sum = 0;
    double weighted = 0;
    int i = at;
    while (i < ub) {
      int blockEnd = Math.min(ub, i + SUM_BLOCK * L);
      FloatVector s = FloatVector.zero(S);
      FloatVector w = FloatVector.zero(S);
      for (; i < blockEnd; i += L) {
        FloatVector u = FloatVector.fromArray(S, z, i).mul(invT).sub(m);
        FloatVector e = expNonPositive(u);
        s = s.add(e);
        w = e.fma(u, w);
      }
      sum += s.reduceLanes(VectorOperators.ADD);
      weighted += w.reduceLanes(VectorOperators.ADD);
    }
    for (; i < end; i++) {
      double u = z[i] * invT - m;
      double e = Math.exp(u);
      sum += e;
      weighted += e * u;
    }
    return new double[] {sum, weighted};
  }

  /** The largest of {@code s[at, at + len)}. */
  private static float max(float[] s, int at, int len) {
    int end = at + len;
    int i = at;
    FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
    for (int ub = at + S.loopBound(len); i < ub; i += L) {
      m = m.max(FloatVector.fromArray(S, s, i));
    }
    float max = m.reduceLanes(VectorOperators.MAX);
    for (; i < end; i++) {
      max = Math.max(max, s[i]);
    }
    return max;
  }

  private static final float LOG2E = 1.44269504f;
  private static final float LN2_HI = 0.693145751953125f; // ln 2's leading bits: k * LN2_HI is exact
  private static final float LN2_LO = 1.42860677e-6f;
  /** Below this, exp underflows to zero (or a subnormal, flushed to zero here). */
  private static final float EXP_MIN = -87.33654f;

  /**
   * {@code exp(x)} for {@code x <= 0}, within 2 ulps: {@code 2^k e^r} with {@code k = round(x /
   * ln 2)}, {@code r = x - k ln 2} in two exact steps, {@code e^r} by its Taylor series to
   * degree 7 (|r| <= ln 2 / 2, truncation below 1e-8), zero below {@link #EXP_MIN}. Only adds,
   * multiplies, fused multiply-adds and exact conversions, so the Vector API's Java fallback and
   * C2's compiled code give the same bits: the vector EXP goes to a different library once
   * compiled, and a step's values then depended on whether the JIT had got to it.
   */
  static FloatVector expNonPositive(FloatVector x) {
    VectorMask<Float> zero = x.compare(VectorOperators.LT, EXP_MIN);
    FloatVector c = x.max(EXP_MIN);
    FloatVector k = c.mul(LOG2E).add(12582912f).sub(12582912f); // rounded to the nearest integer
    FloatVector r = k.fma(FloatVector.broadcast(S, -LN2_HI), c);
    r = k.fma(FloatVector.broadcast(S, -LN2_LO), r);
    FloatVector p = FloatVector.broadcast(S, 1f / 5040);
    p = p.fma(r, FloatVector.broadcast(S, 1f / 720));
    p = p.fma(r, FloatVector.broadcast(S, 1f / 120));
    p = p.fma(r, FloatVector.broadcast(S, 1f / 24));
    p = p.fma(r, FloatVector.broadcast(S, 1f / 6));
    p = p.fma(r, FloatVector.broadcast(S, 0.5f));
    p = p.fma(r, FloatVector.broadcast(S, 1f));
    p = p.fma(r, FloatVector.broadcast(S, 1f));
    IntVector bits = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
    return p.mul(bits.reinterpretAsFloats()).blend(0f, zero);
  }

  /** Vectors per block of {@link #distributions}' sums. */
  private static final int SUM_BLOCK = 64;

  /** One row of {@link #distributions}: writes its probabilities, returns its entropy. */
  private static float distribution(float[] z, int at, int vocab, float invT, float[] probs) {
    int end = at + vocab;
    int ub = at + S.loopBound(vocab);
    float m = max(z, at, vocab) * invT;
    double sum = 0;
    int i = at;
    while (i < ub) {
      int blockEnd = Math.min(ub, i + SUM_BLOCK * L);
      FloatVector acc = FloatVector.zero(S);
      for (; i < blockEnd; i += L) {
        FloatVector e = expNonPositive(FloatVector.fromArray(S, z, i).mul(invT).sub(m));
        e.intoArray(probs, i);
        acc = acc.add(e);
      }
      sum += acc.reduceLanes(VectorOperators.ADD);
    }
    for (; i < end; i++) {
      probs[i] = (float) Math.exp(z[i] * invT - m);
      sum += probs[i];
    }
    float inv = (float) (1 / sum);
    // H = -sum p (z/t - m - log s) = log s - sum p (z/t - m)
    double weighted = 0;
    i = at;
    while (i < ub) {
      int blockEnd = Math.min(ub, i + SUM_BLOCK * L);
      FloatVector acc = FloatVector.zero(S);
      for (; i < blockEnd; i += L) {
        FloatVector p = FloatVector.fromArray(S, probs, i).mul(inv);
        p.intoArray(probs, i);
        acc = p.fma(FloatVector.fromArray(S, z, i).mul(invT).sub(m), acc);
      }
      weighted += acc.reduceLanes(VectorOperators.ADD);
    }
    for (; i < end; i++) {
      probs[i] *= inv;
      weighted += probs[i] * (z[i] * invT - m);
    }
    return (float) (Math.log(sum) - weighted);
  }

  private static void add(float[] y, float[] z, int n) {
    int i = 0;
    for (int ub = S.loopBound(n); i < ub; i += L) {
      FloatVector.fromArray(S, y, i).add(FloatVector.fromArray(S, z, i)).intoArray(y, i);
    }
    for (; i < n; i++) {
      y[i] += z[i];
    }
  }

  /** A range {@code [from, to)} of a split loop. */
  @FunctionalInterface
  interface Range {
    void run(int from, int to);
  }

  /** Shares of the inputs a one-row product over {@code in} inputs is split into, one per thread. */
  static int rowParts(int in) {
    return Math.min(THREADS, Math.max(1, in / 64));
  }

  /**
   * The first input of share {@code p} of {@code parts} ({@code in} for {@code p == parts}): a
   * multiple of 8, so each share of a tiled 16-bit matrix holds whole tiles
   * ({@link HalfKernels#tileColumns}), and the fp32 kernel sums over the same shares.
   */
  static int rowSplit(int in, int parts, int p) {
    return p == parts ? in : 8 * (int) ((long) (in / 8) * p / parts);
  }

  /** Floats per vector: the size of {@link #dot}'s scratch array. */
  static int lanes() {
    return L;
  }

  /** The vectors and threads the kernels run on, for the log. */
  static String shape() {
    return S.vectorBitSize() + "-bit vectors: " + L + " float lanes, " + THREADS + " threads";
  }

  /** Threads a kernel call splits its work over: every core. */
  static int threads() {
    return THREADS;
  }

  /**
   * Starts compiling the kernels in the background, once per JVM (see {@link #warmUp}), the
   * 16-bit ones ({@link HalfKernels}) too for a {@code weights} of 16 bits: the first model decides.
   */
  static void startWarmUp(DType weights) {
    if (WARM_UP_STARTED.compareAndSet(false, true)) {
      warmHalf = weights == DType.F32 ? null : weights;
      WARM_UP.start();
    }
  }

  /**
   * Waits for the warm-up to finish. A step running next to it lost a core to it (batch-1 steps
   * measured 80-98 ms against 46-66), and would run the same uncompiled code anyway.
   */
  static void awaitWarmUp() {
    if (WARM_UP.isAlive()) {
      try {
        WARM_UP.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while the kernels warm up", e);
      }
    }
  }

  /**
   * Unparks the helpers that went idle, so that they spin again by the time a step's first matrix
   * product offers them a share: between steps (sampling, the scheduler's bookkeeping) they park,
   * and an unpark costs the first product of a step a wake-up.
   */
  static void wakeHelpers() {
    for (Helper h : HELPERS) {
      h.wake();
    }
  }

  /**
   * Runs every kernel on small inputs until C2 has compiled them. Before that they run
   * interpreted or in C1, which box every vector op and are 10-100x slower: a short job (the
   * demo's three-second rollout) spent a third of its time there.
   */
  private static void warmUp() {
    int in = 96;
    int out = 100;
    ByteBuffer bytes = ByteBuffer.allocateDirect(4 * in * out).order(ORDER);
    MemorySegment w = MemorySegment.ofBuffer(bytes);
    float[] x = new float[9 * in];
    float[] y = new float[9 * out];
    float[] gateUp = new float[2 * 2 * out];
    for (int round = 0; round < WARM_UP_ROUNDS; round++) {
      for (int rows : new int[] {1, 2, 5, 9}) {
        matmul(w, in, out, x, rows, y, false);
      }
      siluMul(gateUp, out, 2, y, false);
      softmax(y, 0, 2 * L + 3);
      distributions(y, out, new float[] {1f, 0.7f}, x, gateUp);
      // Attention over two KV rows of 32 elements, two query heads; fp32 and BF16 pages.
      long[] kvRows = {0, 4L * in};
      scores(w, kvRows, 2, 0, x, 0, 32, 2, 1f, y, 2, null);
      mix(w, kvRows, 2, 0, y, 2, 2, x, 0, 32);
      HalfKernels.scoresBf16(w, kvRows, 2, 0, x, 0, 32, 2, 1f, y, 2, null);
      HalfKernels.mixBf16(w, kvRows, 2, 0, y, 2, 2, x, 0, 32);
      if (warmHalf != null) {
        // The model's type only: C2 then leaves the other type's branches out of the kernels.
        // One row over twice the columns (the same bytes at 16 bits): enough column blocks per
        // call that C2, not C1, has compiled the one-row kernel's reduction when warm-up ends.
        HalfKernels.matmul(w, warmHalf == DType.F16, false, in, 2 * out, x, 1, y, false);
        HalfKernels.matmul(w, warmHalf == DType.F16, false, in, out, x, 9, y, false);
        // And in tiles (two of them), as the narrow matrices are kept.
        HalfKernels.matmul(w, warmHalf == DType.F16, true, in, 4 * L, x, 1, y, false);
        HalfKernels.matmul(w, warmHalf == DType.F16, true, in, 4 * L, x, 9, y, false);
      }
    }
  }

  /** Runs {@code body} over {@code [0, n)} split evenly over the cores, shares of at least {@code grain}. */
  static void parallel(int n, int grain, Range body) {
    int parts = Math.min(THREADS, Math.max(1, n / grain));
    parallelParts(parts, p -> body.run((int) ((long) n * p / parts), (int) ((long) n * (p + 1) / parts)));
  }

  private static void parallelParts(int parts, IntConsumer part) {
    if (parts == 1 || Thread.currentThread() == WARM_UP || !TEAM_LOCK.tryLock()) {
      // One share, the warm-up (splitting its small calls slowed it: the demo's rollout took
      // 1.9-2.4 s instead of 1.4-1.7), or another thread's step holds the helpers: run every
      // share here.
      for (int p = 0; p < parts; p++) {
        part.accept(p);
      }
      return;
    }
    RuntimeException failure = null;
    try {
      for (int p = 1; p < parts; p++) {
        int id = p;
        HELPERS[p - 1].offer(() -> part.accept(id));
      }
      try {
        part.accept(0);
      } catch (RuntimeException e) {
        failure = e;
      }
      // Every helper must be idle before the lock is released, whatever failed.
      for (int p = 1; p < parts; p++) {
        RuntimeException e = HELPERS[p - 1].await();
        failure = failure == null ? e : failure;
      }
    } finally {
      TEAM_LOCK.unlock();
    }
    if (failure != null) {
      throw failure;
    }
  }

  /**
   * A helper thread that spins briefly for its next share before parking. A step makes ~100
   * kernel calls microseconds apart; waking a parked thread for each cost more than some calls.
   */
  private static final class Helper extends Thread {
    private static final long SPIN_NANOS = 500_000;
    private volatile Runnable task;
    private volatile boolean parked;
    private volatile Throwable failure;

    Helper(int id) {
      super("treeroll-kernel-" + id);
      setDaemon(true);
    }

    void offer(Runnable share) {
      failure = null;
      task = share;
      if (parked) {
        LockSupport.unpark(this);
      }
    }

    void wake() {
      if (parked) {
        LockSupport.unpark(this);
      }
    }

    /** Waits for the offered share; returns what it threw, if anything. */
    RuntimeException await() {
      while (task != null) {
        Thread.onSpinWait();
      }
      Throwable f = failure;
      return f == null ? null : f instanceof RuntimeException re ? re : new IllegalStateException(f);
    }

    @Override
    public void run() {
      while (true) {
        Runnable t = task;
        if (t == null) {
          long until = System.nanoTime() + SPIN_NANOS;
          while ((t = task) == null && System.nanoTime() < until) {
            Thread.onSpinWait();
          }
          if (t == null) {
            parked = true;
            if (task == null) {
              LockSupport.park(this);
            }
            parked = false;
            continue;
          }
        }
        try {
          t.run();
        } catch (Throwable e) {
          failure = e;
        } finally {
          task = null;
        }
      }
    }
  }
}
