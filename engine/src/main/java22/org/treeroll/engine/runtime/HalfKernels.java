package org.treeroll.engine.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link VectorKernels}' matrix products over weights stored in 16 bits (BF16 or F16), {@code [in,
 * out]}, widened to fp32 in registers and accumulated in fp32 in the fp32 kernels' order, so the
 * products equal those of the fp32 kernels on the widened weights bit for bit (BF16 and F16 both
 * widen exactly). The same two kernels: for many rows, the fp32 kernels' register tiles over
 * each block of a column panel widened once into a per-thread scratch (see {@link #panel}); for
 * one row, streams of eight (BF16) or four (F16) weight rows, read as 32-bit pairs of weights and
 * split into even and odd columns (see {@link #rowSums}). Narrow matrices are stored in tiles of
 * 8 rows ({@link #tileColumns}), so that one row reads them as one sequential stream.
 *
 * <p>Widening: BF16 is the top half of an fp32, so a 16-bit value shifted left by 16 is the
 * float. F16's magnitude bits shifted left by 13 are the float scaled by 2^-112 (the exponent
 * biases differ by 112), subnormals included, so one exact multiply restores it, and the sign bit
 * moves to bit 31. Non-finite weights are refused at load, so F16's infinities and NaN never
 * reach a kernel.
 *
 * <p>C2 compiles these well only while each hot method stays small: past its node-count cutoff
 * it stops inlining the vector operations, and they run through the Vector API's Java fallback,
 * several times slower. Hence one method per loop and the F16 branches behind calls.
 */
final class HalfKernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final VectorSpecies<Short> H =
      VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
  private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  private static final ByteOrder ORDER = ByteOrder.nativeOrder();
  private static final int K_BLOCK = 512;
  /**
   * Widest matrix stored in tiles ({@link #tileColumns}). Past it the rows are long enough for
   * the hardware to stream eight of them at once, and tiles measured slower (gate/up, see
   * docs/benchmarks.md).
   */
  private static final int TILED_MAX_OUT = 4096;
  private static final float F16_SCALE = 0x1p112f;
  /** Per thread: one block of a panel's weights, widened ({@link #panel}). */
  private static final ThreadLocal<MemorySegment> SCRATCH =
      ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(4L * K_BLOCK * 3 * L, 64));
  /** Lane sources, over the even half then the odd half of a paired block, of its first {@code L} columns. */
  private static final VectorShuffle<Float> LOW_HALVES = interleave(0);
  /** As {@link #LOW_HALVES}, of the block's last {@code L} columns. */
  private static final VectorShuffle<Float> HIGH_HALVES = interleave(L / 2);

  private HalfKernels() {}

  /**
   * {@code y[r, :] = x[r, :] W} for {@code rows} rows, {@code W [in, out]} of F16 if {@code f16},
   * else BF16, laid out row-major ({@code tiled} false) or in {@link #tileColumns tiles};
   * {@code fixedOrder} as in {@link VectorKernels#matmul}.
   */
  static void matmul(MemorySegment w, boolean f16, boolean tiled, int in, int out, float[] x, int rows, float[] y,
      boolean fixedOrder) {
    if (rows == 1 && !fixedOrder) {
      rowSums(w, f16, tiled, in, out, x, y);
    } else {
      batched(w, f16, tiled, in, out, x, rows, y);
    }
  }

  /**
   * Columns per tile where a {@code [in, out]} matrix is best stored in tiles, else 0 (row-major).
   * A tile is 8 rows by {@code 2L} columns, stored row after row, and tiles follow each other
   * along the columns, then the next 8 rows: a pass of the one-row kernel over 8 rows then reads
   * one sequential stream instead of 8 interleaved ones, which one core reads about twice as
   * fast when the rows are short, as the narrow matrices' are (q/k/v, o, down; see
   * docs/benchmarks.md). Tiles need whole ones: 8 rows by {@code 2L} columns, and at least the
   * batched kernel's panel width.
   */
  static int tileColumns(int in, int out) {
    int t = 2 * L;
    return in % 8 == 0 && out % t == 0 && out >= 2 * t && out <= TILED_MAX_OUT ? t : 0;
  }

  /** Byte offset of row {@code k}'s first element in its tile row (tiled) or of the row (row-major). */
  private static long rowOffset(boolean tiled, int out, int k) {
    return tiled ? 16L * (k >>> 3) * out + 4L * L * (k & 7) : 2L * k * out;
  }

  /** Byte offset of column {@code c} from {@link #rowOffset}. */
  private static long columnOffset(boolean tiled, int c) {
    return tiled ? 32L * L * (c / (2 * L)) + 2L * (c % (2 * L)) : 2L * c;
  }

  /** Column {@code 2 (first + k) + parity} is lane {@code first + k} of the even ({@code parity} 0) or odd half. */
  private static VectorShuffle<Float> interleave(int first) {
    int[] sources = new int[L];
    for (int lane = 0; lane < L; lane++) {
      sources[lane] = first + lane / 2 + (lane % 2) * L;
    }
    return VectorShuffle.fromArray(S, sources, 0);
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
    return f16 ? widenF16(i) : i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  private static FloatVector widenF16(IntVector i) {
    FloatVector magnitude = i.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE);
    return magnitude.reinterpretAsInts().or(i.and(0x80000000)).reinterpretAsFloats();
  }

  private static void batched(MemorySegment w, boolean f16, boolean tiled, int in, int out, float[] x, int rows,
      float[] y) {
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
        panel(w, f16, tiled, in, out, x, rows, p * width, y);
      }
      if (to == whole && out % width != 0) {
        panel(w, f16, tiled, in, out, x, rows, out - width, y);
      }
    });
  }

  /**
   * Output columns {@code [j, j + 3L)} of every row: each block of {@code K_BLOCK} inputs widened
   * once into this thread's fp32 scratch, then {@link VectorKernels}' tiles over it. Widening in
   * the tiles cost every row tile the conversions again and made batch 64 ~5% slower than fp32.
   */
  private static void panel(MemorySegment w, boolean f16, boolean tiled, int in, int out, float[] x, int rows, int j,
      float[] y) {
    int width = 3 * L;
    MemorySegment block = SCRATCH.get();
    for (int k0 = 0; k0 < in; k0 += K_BLOCK) {
      int k1 = Math.min(in, k0 + K_BLOCK);
      widenBlock(w, f16, tiled, out, j, k0, k1, block);
      VectorKernels.panelTiles(block, 0, 4L * width, x, in, rows, k0, k1, k0 > 0, y, out, j);
    }
  }

  /** Rows {@code [k0, k1)}, columns {@code [j, j + 3L)} of {@code W}, widened into {@code block} row after row. */
  private static void widenBlock(MemorySegment w, boolean f16, boolean tiled, int out, int j, int k0, int k1,
      MemorySegment block) {
    // Each L columns lie in one tile: j is a multiple of L, tiles are 2L wide.
    long c0 = columnOffset(tiled, j);
    long c1 = columnOffset(tiled, j + L);
    long c2 = columnOffset(tiled, j + 2 * L);
    long to = 0;
    for (int k = k0; k < k1; k++) {
      long row = rowOffset(tiled, out, k);
      load(w, row + c0, f16).intoMemorySegment(block, to, ORDER);
      load(w, row + c1, f16).intoMemorySegment(block, to + 4L * L, ORDER);
      load(w, row + c2, f16).intoMemorySegment(block, to + 8L * L, ORDER);
      to += 12L * L;
    }
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

  /**
   * One input row, as {@link VectorKernels}' one-row kernel (per-thread input ranges, private
   * partials), but without the widening conversion: a 32-bit load takes two adjacent 16-bit
   * weights, whose even column is the low half shifted up and whose odd column is the high half
   * masked (BF16). The partial results are kept per block of {@code 2L} columns as {@code L} even
   * columns then {@code L} odd ones, and put back in order once at the end; each column's sum
   * still runs over the same inputs in the same order, so it equals the fp32 kernel's bit for bit.
   */
  private static void rowSums(MemorySegment w, boolean f16, boolean tiled, int in, int out, float[] x, float[] y) {
    int parts = VectorKernels.rowParts(in);
    float[][] partials = new float[parts][];
    VectorKernels.parallel(parts, 1, (first, last) -> {
      for (int p = first; p < last; p++) {
        int from = VectorKernels.rowSplit(in, parts, p);
        int to = VectorKernels.rowSplit(in, parts, p + 1);
        partials[p] = tiled ? tiledRowSumsPart(w, f16, out, x, from, to) : rowSumsPart(w, f16, out, x, from, to);
      }
    });
    int paired = out / (2 * L) * (2 * L);
    unpair(partials, paired, y);
    for (int j = paired; j < out; j++) {
      float sum = partials[0][j];
      for (int p = 1; p < parts; p++) {
        sum += partials[p][j];
      }
      y[j] = sum;
    }
  }

  /**
   * {@code y[0, paired)} from the partials' paired blocks: each column's partials added in order,
   * as the scalar sum of the columns past them, then each block's even and odd halves interleaved
   * by a two-vector rearrange per output vector. In vectors, since the LM head's 151,936 columns
   * summed one by one took a visible share of a batch-1 step while the other threads waited.
   */
  private static void unpair(float[][] partials, int paired, float[] y) {
    for (int j = 0; j < paired; j += 2 * L) {
      FloatVector e = FloatVector.fromArray(S, partials[0], j);
      FloatVector o = FloatVector.fromArray(S, partials[0], j + L);
      for (int p = 1; p < partials.length; p++) {
        e = e.add(FloatVector.fromArray(S, partials[p], j));
        o = o.add(FloatVector.fromArray(S, partials[p], j + L));
      }
      e.rearrange(LOW_HALVES, o).intoArray(y, j);
      e.rearrange(HIGH_HALVES, o).intoArray(y, j + L);
    }
  }

  /**
   * Inputs {@code [from, to)} into a new partial in paired order (see {@link #rowSums}). Each loop
   * is a method of its own: with all of them in one, C2 hit its node-count cutoff, stopped
   * inlining the vector ops and ran them through the Vector API's Java fallback, 5x slower than
   * fp32 (probed).
   */
  private static float[] rowSumsPart(MemorySegment w, boolean f16, int out, float[] x, int from, int to) {
    float[] acc = new float[out];
    int paired = out / (2 * L) * (2 * L);
    int i = from;
    // More weight rows per pass than the fp32 kernel's two: 16-bit rows are half as long, and
    // each pass loads and stores the partial once. BF16 takes eight, F16 four (its widening in
    // eight rows would not fit C2's inlining budget); see docs/benchmarks.md.
    if (!f16) {
      for (; i + 8 <= to; i += 8) {
        eightBf16Rows(w, 2L * i * out, 2L * out, paired, x, i, acc);
        if (paired < out) {
          quadTail(w, false, out, x, i, paired, acc);
          quadTail(w, false, out, x, i + 4, paired, acc);
        }
      }
    }
    for (; i + 4 <= to; i += 4) {
      quad(w, f16, 2L * i * out, 2L * out, 2, 0, paired, x, i, acc);
      if (paired < out) {
        quadTail(w, f16, out, x, i, paired, acc);
      }
    }
    for (; i + 2 <= to; i += 2) {
      pair(w, f16, out, x, i, acc);
    }
    if (i < to) {
      single(w, f16, out, x, i, acc);
    }
    return acc;
  }

  /**
   * {@link #rowSumsPart} over a tiled matrix ({@link #tileColumns}): {@code from} and {@code to}
   * are multiples of 8, so each pass reads whole tiles, and a row's columns are {@code 4L} bytes
   * apart in its tile, tiles {@code 32L} bytes apart. The same sums in the same order.
   */
  private static float[] tiledRowSumsPart(MemorySegment w, boolean f16, int out, float[] x, int from, int to) {
    float[] acc = new float[out];
    long rowBytes = 4L * L;
    for (int i = from; i < to; i += 8) {
      long base = rowOffset(true, out, i);
      if (f16) {
        quad(w, true, base, rowBytes, 16, 0, out, x, i, acc);
        quad(w, true, base + 4 * rowBytes, rowBytes, 16, 0, out, x, i + 4, acc);
      } else {
        eightBf16(w, base, out, x, i, acc);
      }
    }
    return acc;
  }

  /**
   * The even columns of {@code L} pairs of 16-bit weights, as fp32. The BF16 case is two vector
   * ops and the method stays under C2's inlining size; F16 goes through a call of its own.
   */
  private static FloatVector evens(IntVector v, boolean f16) {
    return f16 ? evensF16(v) : v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
  }

  /** The odd columns of {@code L} pairs of 16-bit weights, as fp32 (see {@link #evens}). */
  private static FloatVector odds(IntVector v, boolean f16) {
    return f16 ? oddsF16(v) : v.and(0xFFFF0000).reinterpretAsFloats();
  }

  private static FloatVector evensF16(IntVector v) {
    FloatVector magnitude = v.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE);
    return magnitude.reinterpretAsInts().or(v.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
  }

  private static FloatVector oddsF16(IntVector v) {
    FloatVector magnitude = v.lanewise(VectorOperators.LSHR, 3).and(0x0FFFE000).reinterpretAsFloats().mul(F16_SCALE);
    return magnitude.reinterpretAsInts().or(v.and(0x80000000)).reinterpretAsFloats();
  }

  private static IntVector pairs(MemorySegment w, long at) {
    return IntVector.fromMemorySegment(I, w, at, ORDER);
  }

  /**
   * {@code acc += x[i..i+8) W[i..i+8, :]} for a BF16 matrix in tiles ({@link #tileColumns}), the
   * 8 rows' tiles from byte {@code base}, in paired order: eight rows per pass halve the partial's
   * loads and stores against four. Written out without helper calls, which would take it past
   * C2's inlining budget.
   */
  private static void eightBf16(MemorySegment w, long base, int out, float[] x, int i, float[] acc) {
    FloatVector x0 = FloatVector.broadcast(S, x[i]);
    FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
    FloatVector x2 = FloatVector.broadcast(S, x[i + 2]);
    FloatVector x3 = FloatVector.broadcast(S, x[i + 3]);
    FloatVector x4 = FloatVector.broadcast(S, x[i + 4]);
    FloatVector x5 = FloatVector.broadcast(S, x[i + 5]);
    FloatVector x6 = FloatVector.broadcast(S, x[i + 6]);
    FloatVector x7 = FloatVector.broadcast(S, x[i + 7]);
    // The 8 rows' tiles are one run of 16 out bytes: one slice, and constant offsets from 16 j.
    MemorySegment tiles = w.asSlice(base, 16L * out);
    long row = I.vectorByteSize();
    for (int j = 0; j < out; j += 2 * L) {
      long at = 16L * j;
      IntVector w0 = IntVector.fromMemorySegment(I, tiles, at, ORDER);
      IntVector w1 = IntVector.fromMemorySegment(I, tiles, at + row, ORDER);
      IntVector w2 = IntVector.fromMemorySegment(I, tiles, at + 2 * row, ORDER);
      IntVector w3 = IntVector.fromMemorySegment(I, tiles, at + 3 * row, ORDER);
      IntVector w4 = IntVector.fromMemorySegment(I, tiles, at + 4 * row, ORDER);
      IntVector w5 = IntVector.fromMemorySegment(I, tiles, at + 5 * row, ORDER);
      IntVector w6 = IntVector.fromMemorySegment(I, tiles, at + 6 * row, ORDER);
      IntVector w7 = IntVector.fromMemorySegment(I, tiles, at + 7 * row, ORDER);
      FloatVector e = FloatVector.fromArray(S, acc, j);
      e = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, e);
      e = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x1, e);
      e = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, e);
      e = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x3, e);
      e = w4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x4, e);
      e = w5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x5, e);
      e = w6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x6, e);
      w7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x7, e).intoArray(acc, j);
      FloatVector o = FloatVector.fromArray(S, acc, j + L);
      o = w0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, o);
      o = w1.and(0xFFFF0000).reinterpretAsFloats().fma(x1, o);
      o = w2.and(0xFFFF0000).reinterpretAsFloats().fma(x2, o);
      o = w3.and(0xFFFF0000).reinterpretAsFloats().fma(x3, o);
      o = w4.and(0xFFFF0000).reinterpretAsFloats().fma(x4, o);
      o = w5.and(0xFFFF0000).reinterpretAsFloats().fma(x5, o);
      o = w6.and(0xFFFF0000).reinterpretAsFloats().fma(x6, o);
      w7.and(0xFFFF0000).reinterpretAsFloats().fma(x7, o).intoArray(acc, j + L);
    }
  }

  /**
   * {@link #eightBf16} over a row-major matrix, columns {@code [0, to)}: a slice per weight row,
   * indexed by {@code 2 j} alone, lets C2 drop the bounds check of each load and the address
   * arithmetic, which it kept for offsets into the whole matrix (twice the instructions per pass;
   * batch-1 steps 4-6% faster, docs/benchmarks.md). A tiled matrix's calls are too short to pay
   * for eight slices each (slower, measured); {@link #eightBf16} reads its 8 rows through one. The
   * same sums in the same order.
   */
  private static void eightBf16Rows(MemorySegment w, long row, long stride, int to, float[] x, int i, float[] acc) {
    FloatVector x0 = FloatVector.broadcast(S, x[i]);
    FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
    FloatVector x2 = FloatVector.broadcast(S, x[i + 2]);
    FloatVector x3 = FloatVector.broadcast(S, x[i + 3]);
    FloatVector x4 = FloatVector.broadcast(S, x[i + 4]);
    FloatVector x5 = FloatVector.broadcast(S, x[i + 5]);
    FloatVector x6 = FloatVector.broadcast(S, x[i + 6]);
    FloatVector x7 = FloatVector.broadcast(S, x[i + 7]);
    long span = 2L * to;
    MemorySegment r0 = w.asSlice(row, span);
    MemorySegment r1 = w.asSlice(row + stride, span);
    MemorySegment r2 = w.asSlice(row + 2 * stride, span);
    MemorySegment r3 = w.asSlice(row + 3 * stride, span);
    MemorySegment r4 = w.asSlice(row + 4 * stride, span);
    MemorySegment r5 = w.asSlice(row + 5 * stride, span);
    MemorySegment r6 = w.asSlice(row + 6 * stride, span);
    MemorySegment r7 = w.asSlice(row + 7 * stride, span);
    for (int j = 0; j < to; j += 2 * L) {
      long at = 2L * j;
      IntVector w0 = IntVector.fromMemorySegment(I, r0, at, ORDER);
      IntVector w1 = IntVector.fromMemorySegment(I, r1, at, ORDER);
      IntVector w2 = IntVector.fromMemorySegment(I, r2, at, ORDER);
      IntVector w3 = IntVector.fromMemorySegment(I, r3, at, ORDER);
      IntVector w4 = IntVector.fromMemorySegment(I, r4, at, ORDER);
      IntVector w5 = IntVector.fromMemorySegment(I, r5, at, ORDER);
      IntVector w6 = IntVector.fromMemorySegment(I, r6, at, ORDER);
      IntVector w7 = IntVector.fromMemorySegment(I, r7, at, ORDER);
      FloatVector e = FloatVector.fromArray(S, acc, j);
      e = w0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x0, e);
      e = w1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x1, e);
      e = w2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x2, e);
      e = w3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x3, e);
      e = w4.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x4, e);
      e = w5.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x5, e);
      e = w6.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x6, e);
      w7.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(x7, e).intoArray(acc, j);
      FloatVector o = FloatVector.fromArray(S, acc, j + L);
      o = w0.and(0xFFFF0000).reinterpretAsFloats().fma(x0, o);
      o = w1.and(0xFFFF0000).reinterpretAsFloats().fma(x1, o);
      o = w2.and(0xFFFF0000).reinterpretAsFloats().fma(x2, o);
      o = w3.and(0xFFFF0000).reinterpretAsFloats().fma(x3, o);
      o = w4.and(0xFFFF0000).reinterpretAsFloats().fma(x4, o);
      o = w5.and(0xFFFF0000).reinterpretAsFloats().fma(x5, o);
      o = w6.and(0xFFFF0000).reinterpretAsFloats().fma(x6, o);
      w7.and(0xFFFF0000).reinterpretAsFloats().fma(x7, o).intoArray(acc, j + L);
    }
  }

  /**
   * {@code acc += x[i..i+4) W[i..i+4, :]}, in paired order: row {@code i} from byte {@code row},
   * each next row {@code stride} bytes on, column {@code j} of a row {@code perColumn * j} bytes
   * into it (2 row-major; tiles see {@link #tiledRowSumsPart}).
   */
  private static void quad(MemorySegment w, boolean f16, long row, long stride, long perColumn, int from, int to,
      float[] x, int i, float[] acc) {
    FloatVector x0 = FloatVector.broadcast(S, x[i]);
    FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
    FloatVector x2 = FloatVector.broadcast(S, x[i + 2]);
    FloatVector x3 = FloatVector.broadcast(S, x[i + 3]);
    for (int j = from; j < to; j += 2 * L) {
      long at = row + perColumn * j;
      IntVector w0 = pairs(w, at);
      IntVector w1 = pairs(w, at + stride);
      IntVector w2 = pairs(w, at + 2 * stride);
      IntVector w3 = pairs(w, at + 3 * stride);
      FloatVector e = FloatVector.fromArray(S, acc, j);
      e = evens(w0, f16).fma(x0, e);
      e = evens(w1, f16).fma(x1, e);
      e = evens(w2, f16).fma(x2, e);
      evens(w3, f16).fma(x3, e).intoArray(acc, j);
      FloatVector o = FloatVector.fromArray(S, acc, j + L);
      o = odds(w0, f16).fma(x0, o);
      o = odds(w1, f16).fma(x1, o);
      o = odds(w2, f16).fma(x2, o);
      odds(w3, f16).fma(x3, o).intoArray(acc, j + L);
    }
  }

  /** The columns of {@link #quad} past its last whole pair block, rounded as the fp32 kernel rounds them. */
  private static void quadTail(MemorySegment w, boolean f16, int out, float[] x, int i, int paired, float[] acc) {
    int ub = S.loopBound(out);
    for (int k = i; k < i + 4; k++) {
      fused(w, f16, out, x[k], k, paired, ub, acc);
    }
    if (out >= VectorKernels.QUADS_MIN_OUT) {
      for (int k = i; k < i + 4; k++) {
        scalarTail(w, f16, out, x[k], k, ub, acc);
      }
    } else {
      // The fp32 kernel runs this matrix in pairs of rows: round its last columns as it does.
      pairTail(w, f16, out, x, i, ub, acc);
      pairTail(w, f16, out, x, i + 2, ub, acc);
    }
  }

  /** {@code acc += x[i..i+2) W[i..i+2, :]}, in paired order; the tail rounded as the fp32 kernel rounds it. */
  private static void pair(MemorySegment w, boolean f16, int out, float[] x, int i, float[] acc) {
    FloatVector x0 = FloatVector.broadcast(S, x[i]);
    FloatVector x1 = FloatVector.broadcast(S, x[i + 1]);
    long stride = 2L * out;
    long row = 2L * i * out;
    int paired = out / (2 * L) * (2 * L);
    for (int j = 0; j < paired; j += 2 * L) {
      long at = row + 2L * j;
      IntVector w0 = pairs(w, at);
      IntVector w1 = pairs(w, at + stride);
      FloatVector e = FloatVector.fromArray(S, acc, j);
      e = evens(w0, f16).fma(x0, e);
      evens(w1, f16).fma(x1, e).intoArray(acc, j);
      FloatVector o = FloatVector.fromArray(S, acc, j + L);
      o = odds(w0, f16).fma(x0, o);
      odds(w1, f16).fma(x1, o).intoArray(acc, j + L);
    }
    if (paired < out) {
      int ub = S.loopBound(out);
      fused(w, f16, out, x[i], i, paired, ub, acc);
      fused(w, f16, out, x[i + 1], i + 1, paired, ub, acc);
      pairTail(w, f16, out, x, i, ub, acc);
    }
  }

  /** {@code acc[j] += x[i] W[i, j] + x[i + 1] W[i + 1, j]} for the columns {@code [from, out)}. */
  private static void pairTail(MemorySegment w, boolean f16, int out, float[] x, int i, int from, float[] acc) {
    for (int j = from; j < out; j++) {
      acc[j] += x[i] * get(w, f16, (long) i * out + j) + x[i + 1] * get(w, f16, (long) (i + 1) * out + j);
    }
  }

  /** {@code acc += x[i] W[i, :]}, in paired order. */
  private static void single(MemorySegment w, boolean f16, int out, float[] x, int i, float[] acc) {
    FloatVector xi = FloatVector.broadcast(S, x[i]);
    int paired = out / (2 * L) * (2 * L);
    for (int j = 0; j < paired; j += 2 * L) {
      IntVector v = pairs(w, 2L * ((long) i * out + j));
      evens(v, f16).fma(xi, FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
      odds(v, f16).fma(xi, FloatVector.fromArray(S, acc, j + L)).intoArray(acc, j + L);
    }
    int ub = S.loopBound(out);
    fused(w, f16, out, x[i], i, paired, ub, acc);
    scalarTail(w, f16, out, x[i], i, ub, acc);
  }

  /**
   * {@code acc[j] = fma(W[i, j], xi, acc[j])} for the columns {@code [from, to)}: those past the
   * last whole pair block that the fp32 kernel still sums in vectors, rounded as its fused
   * multiply-adds round.
   */
  private static void fused(MemorySegment w, boolean f16, int out, float xi, int i, int from, int to, float[] acc) {
    for (int j = from; j < to; j++) {
      acc[j] = Math.fma(get(w, f16, (long) i * out + j), xi, acc[j]);
    }
  }

  /** {@code acc[j] += xi W[i, j]} for the columns {@code [from, out)} past the last whole vector. */
  private static void scalarTail(MemorySegment w, boolean f16, int out, float xi, int i, int from, float[] acc) {
    for (int j = from; j < out; j++) {
      acc[j] += xi * get(w, f16, (long) i * out + j);
    }
  }

  /**
   * {@link VectorKernels#dot} over BF16 elements from byte {@code base} (a KV page's keys),
   * widened in registers: the same accumulators, order and lane sum ({@code lanes} likewise), so
   * it equals the fp32 kernel on the widened values bit for bit.
   */
  static float dotBf16(MemorySegment w, long base, float[] x, int xo, int n, float[] lanes) {
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = FloatVector.zero(S);
    FloatVector a2 = FloatVector.zero(S);
    FloatVector a3 = FloatVector.zero(S);
    int i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
      long at = base + 2L * i;
      a0 = load(w, at, false).fma(FloatVector.fromArray(S, x, xo + i), a0);
      a1 = load(w, at + 2L * L, false).fma(FloatVector.fromArray(S, x, xo + i + L), a1);
      a2 = load(w, at + 4L * L, false).fma(FloatVector.fromArray(S, x, xo + i + 2 * L), a2);
      a3 = load(w, at + 6L * L, false).fma(FloatVector.fromArray(S, x, xo + i + 3 * L), a3);
    }
    for (; i + L <= n; i += L) {
      a0 = load(w, base + 2L * i, false).fma(FloatVector.fromArray(S, x, xo + i), a0);
    }
    float s = VectorKernels.sumLanes(a0.add(a1).add(a2.add(a3)), lanes);
    for (; i < n; i++) {
      s += bf16(w, base + 2L * i) * x[xo + i];
    }
    return s;
  }

  /** {@link VectorKernels#scores} over BF16 KV rows ({@link #dotBf16}). */
  static void scoresBf16(MemorySegment kv, long[] rows, int len, long offset, float[] q, int q0, int hd, int group,
      float scale, float[] scores, int stride, float[] lanes) {
    for (int l = 0; l < len; l++) {
      for (int g = 0; g < group; g++) {
        scores[g * stride + l] = dotBf16(kv, rows[l] + offset, q, q0 + g * hd, hd, lanes) * scale;
      }
    }
  }

  /** {@link VectorKernels#mix} over BF16 KV rows, widened in registers: bitwise that kernel on the widened values. */
  static void mixBf16(MemorySegment kv, long[] rows, int len, long offset, float[] p, int stride, int group, float[] y,
      int yo, int hd) {
    for (int g = 0; g < group; g++) {
      int pg = g * stride;
      int yg = yo + g * hd;
      int i = 0;
      for (; i + 2 * L <= hd; i += 2 * L) {
        FloatVector a0 = FloatVector.fromArray(S, y, yg + i);
        FloatVector a1 = FloatVector.fromArray(S, y, yg + i + L);
        for (int l = 0; l < len; l++) {
          long at = rows[l] + offset + 2L * i;
          FloatVector w = FloatVector.broadcast(S, p[pg + l]);
          a0 = load(kv, at, false).fma(w, a0);
          a1 = load(kv, at + 2L * L, false).fma(w, a1);
        }
        a0.intoArray(y, yg + i);
        a1.intoArray(y, yg + i + L);
      }
      for (; i + L <= hd; i += L) {
        FloatVector a = FloatVector.fromArray(S, y, yg + i);
        for (int l = 0; l < len; l++) {
          a = load(kv, rows[l] + offset + 2L * i, false).fma(FloatVector.broadcast(S, p[pg + l]), a);
        }
        a.intoArray(y, yg + i);
      }
      for (; i < hd; i++) {
        float a = y[yg + i];
        for (int l = 0; l < len; l++) {
          a += p[pg + l] * bf16(kv, rows[l] + offset + 2L * i);
        }
        y[yg + i] = a;
      }
    }
  }

  /** The BF16 element at byte {@code at}, widened. */
  private static float bf16(MemorySegment w, long at) {
    return Float.intBitsToFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, at) << 16);
  }
}
