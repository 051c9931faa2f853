package org.treeroll.engine.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorKernels}' matrix products over weights stored in 16 bits (BF16 or F16), {@code [in,
 * out]}: each weight vector is loaded as half-width shorts, widened to fp32 in registers and
 * accumulated in fp32, so the products are those of the fp32 kernels on the widened weights
 * (BF16 and F16 both widen exactly). The same two kernels as the fp32 ones: register tiles for
 * many rows, streamed pairs (quads on the LM head) of weight rows for one.
 *
 * <p>Widening: BF16 is the top half of an fp32, so a sign-extended short shifted left by 16 is
 * the float. F16's magnitude bits shifted left by 13 are the float scaled by 2^-112 (the
 * exponent biases differ by 112), subnormals included, so one exact multiply restores it; the
 * sign-extended short already carries the sign in bit 31. Non-finite weights are refused at load,
 * so F16's infinities and NaN never reach a kernel.
 */
final class HalfKernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final VectorSpecies<Short> H =
      VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final ByteOrder ORDER = ByteOrder.nativeOrder();
  private static final int TILE_ROWS = S.vectorBitSize() >= 512 ? 8 : 4;
  private static final int QUADS_MIN_OUT = 1 << 15;
  private static final int K_BLOCK = 512;
  private static final float F16_SCALE = 0x1p112f;

  private HalfKernels() {}

  /** {@code y[r, :] = x[r, :] W} for {@code rows} rows, {@code W [in, out]} of F16 if {@code f16}, else BF16. */
  static void matmul(MemorySegment w, boolean f16, int in, int out, float[] x, int rows, float[] y) {
    if (rows == 1) {
      rowSums(w, f16, in, out, x, y);
    } else {
      tiled(w, f16, in, out, x, rows, y);
    }
  }

  /** Element {@code i} of a 16-bit array, widened. */
  static float get(MemorySegment w, boolean f16, long i) {
    short h = w.getAtIndex(ValueLayout.JAVA_SHORT, i);
    return f16 ? Float.float16ToFloat(h) : Float.intBitsToFloat(h << 16);
  }

  /** L weights from byte {@code at}, widened to fp32. Small enough for C2 to inline: no boxing. */
  private static FloatVector load(MemorySegment w, long at, boolean f16) {
    IntVector i = (IntVector) ShortVector.fromMemorySegment(H, w, at, ORDER).convertShape(VectorOperators.S2I, I, 0);
    return widen(i, f16);
  }

  private static FloatVector load(MemorySegment w, long at, boolean f16, VectorMask<Short> m) {
    IntVector i = (IntVector) ShortVector.fromMemorySegment(H, w, at, ORDER, m).convertShape(VectorOperators.S2I, I, 0);
    return widen(i, f16);
  }

  private static FloatVector widen(IntVector i, boolean f16) {
    if (!f16) {
      return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }
    FloatVector magnitude = i.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE);
    return magnitude.reinterpretAsInts().or(i.and(0x80000000)).reinterpretAsFloats();
  }

  private static void tiled(MemorySegment w, boolean f16, int in, int out, float[] x, int rows, float[] y) {
    int width = 3 * L;
    if (out < width) {
      for (int j = 0; j < out; j += L) {
        var m = H.indexInRange(j, out);
        for (int i = 0; i < rows; i++) {
          tile1x1(w, f16, in, out, x, i, j, m, y);
        }
      }
      return;
    }
    // As in VectorKernels: the columns past the last whole panel as one overlapping panel.
    int whole = out / width;
    VectorKernels.parallel(whole, 1, (from, to) -> {
      for (int p = from; p < to; p++) {
        panel(w, f16, in, out, x, rows, p * width, y);
      }
      if (to == whole && out % width != 0) {
        panel(w, f16, in, out, x, rows, out - width, y);
      }
    });
  }

  private static void panel(MemorySegment w, boolean f16, int in, int out, float[] x, int rows, int j, float[] y) {
    for (int k0 = 0; k0 < in; k0 += K_BLOCK) {
      int k1 = Math.min(in, k0 + K_BLOCK);
      boolean add = k0 > 0;
      int i = 0;
      if (TILE_ROWS == 8) {
        for (; i + 8 <= rows; i += 8) {
          tile8x3(w, f16, in, out, x, i, j, k0, k1, add, y);
        }
      }
      for (; i + 4 <= rows; i += 4) {
        tile4x3(w, f16, in, out, x, i, j, k0, k1, add, y);
      }
      for (; i < rows; i++) {
        tile1x3(w, f16, in, out, x, i, j, k0, k1, add, y);
      }
    }
  }

  private static void tile8x3(MemorySegment w, boolean f16, int in, int out, float[] x, int i, int j, int k0,
      int k1, boolean add, float[] y) {
    FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    FloatVector c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    FloatVector c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    int x0 = i * in;
    long stride = 2L * out;
    long at = 2L * ((long) k0 * out + j);
    for (int k = k0; k < k1; k++, at += stride) {
      FloatVector b0 = load(w, at, f16);
      FloatVector b1 = load(w, at + 2L * L, f16);
      FloatVector b2 = load(w, at + 4L * L, f16);
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

  private static void tile4x3(MemorySegment w, boolean f16, int in, int out, float[] x, int i, int j, int k0,
      int k1, boolean add, float[] y) {
    FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    int x0 = i * in;
    long stride = 2L * out;
    long at = 2L * ((long) k0 * out + j);
    for (int k = k0; k < k1; k++, at += stride) {
      FloatVector b0 = load(w, at, f16);
      FloatVector b1 = load(w, at + 2L * L, f16);
      FloatVector b2 = load(w, at + 4L * L, f16);
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

  private static void tile1x3(MemorySegment w, boolean f16, int in, int out, float[] x, int i, int j, int k0,
      int k1, boolean add, float[] y) {
    FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0;
    int x0 = i * in;
    long stride = 2L * out;
    long at = 2L * ((long) k0 * out + j);
    for (int k = k0; k < k1; k++, at += stride) {
      FloatVector a = FloatVector.broadcast(S, x[x0 + k]);
      c0 = load(w, at, f16).fma(a, c0);
      c1 = load(w, at + 2L * L, f16).fma(a, c1);
      c2 = load(w, at + 4L * L, f16).fma(a, c2);
    }
    int y0 = i * out + j;
    (add ? c0.add(FloatVector.fromArray(S, y, y0)) : c0).intoArray(y, y0);
    (add ? c1.add(FloatVector.fromArray(S, y, y0 + L)) : c1).intoArray(y, y0 + L);
    (add ? c2.add(FloatVector.fromArray(S, y, y0 + 2 * L)) : c2).intoArray(y, y0 + 2 * L);
  }

  private static void tile1x1(MemorySegment w, boolean f16, int in, int out, float[] x, int i, int j,
      VectorMask<Short> m, float[] y) {
    FloatVector c = FloatVector.zero(S);
    int x0 = i * in;
    long stride = 2L * out;
    long at = 2L * j;
    for (int k = 0; k < in; k++, at += stride) {
      c = load(w, at, f16, m).fma(FloatVector.broadcast(S, x[x0 + k]), c);
    }
    c.intoArray(y, i * out + j, m.cast(S));
  }

  /** One input row, as {@link VectorKernels}' one-row kernel: per-thread input ranges, private partials. */
  private static void rowSums(MemorySegment w, boolean f16, int in, int out, float[] x, float[] y) {
    int parts = Math.min(VectorKernels.threads(), Math.max(1, in / 64));
    float[][] partials = new float[parts][];
    VectorKernels.parallel(parts, 1, (first, last) -> {
      for (int p = first; p < last; p++) {
        partials[p] = rowSumsPart(w, f16, in, out, x, (int) ((long) in * p / parts),
            (int) ((long) in * (p + 1) / parts), p == 0 ? y : new float[out]);
      }
    });
    for (int p = 1; p < parts; p++) {
      float[] z = partials[p];
      for (int j = 0; j < out; j++) {
        y[j] += z[j];
      }
    }
  }

  private static float[] rowSumsPart(MemorySegment w, boolean f16, int in, int out, float[] x, int from, int to,
      float[] acc) {
    java.util.Arrays.fill(acc, 0, out, 0f);
    int ub = S.loopBound(out);
    long stride = 2L * out;
    int i = from;
    if (out >= QUADS_MIN_OUT) {
      for (; i + 4 <= to; i += 4) {
        FloatVector x0 = FloatVector.broadcast(S, x[i]);
        FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
        FloatVector x2 = FloatVector.broadcast(S, x[i + 2]);
        FloatVector x3 = FloatVector.broadcast(S, x[i + 3]);
        long row = 2L * i * out;
        for (int j = 0; j < ub; j += L) {
          long at = row + 2L * j;
          FloatVector v = FloatVector.fromArray(S, acc, j);
          v = load(w, at, f16).fma(x0, v);
          v = load(w, at + stride, f16).fma(x1, v);
          v = load(w, at + 2 * stride, f16).fma(x2, v);
          v = load(w, at + 3 * stride, f16).fma(x3, v);
          v.intoArray(acc, j);
        }
        for (int j = ub; j < out; j++) {
          for (int k = i; k < i + 4; k++) {
            acc[j] += x[k] * get(w, f16, (long) k * out + j);
          }
        }
      }
    }
    for (; i + 2 <= to; i += 2) {
      FloatVector x0 = FloatVector.broadcast(S, x[i]);
      FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
      long row = 2L * i * out;
      for (int j = 0; j < ub; j += L) {
        long at = row + 2L * j;
        FloatVector v = FloatVector.fromArray(S, acc, j);
        v = load(w, at, f16).fma(x0, v);
        v = load(w, at + stride, f16).fma(x1, v);
        v.intoArray(acc, j);
      }
      for (int j = ub; j < out; j++) {
        acc[j] += x[i] * get(w, f16, (long) i * out + j) + x[i + 1] * get(w, f16, (long) (i + 1) * out + j);
      }
    }
    if (i < to) {
      int j = 0;
      FloatVector xi = FloatVector.broadcast(S, x[i]);
      for (; j < ub; j += L) {
        load(w, 2L * ((long) i * out + j), f16).fma(xi, FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
      }
      for (; j < out; j++) {
        acc[j] += x[i] * get(w, f16, (long) i * out + j);
      }
    }
    return acc;
  }
}
