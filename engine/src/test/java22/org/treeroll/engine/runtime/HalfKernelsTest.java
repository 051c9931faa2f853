package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.treeroll.engine.io.DType;

/**
 * {@link HalfKernels#matmul} on BF16 and F16 weights against {@link VectorKernels#matmul} on the
 * same weights widened to fp32: the widening is exact and the sums run in the same order, so the
 * results must be bitwise equal. Shapes reach every branch, as in {@link VectorKernelsTest}; the
 * F16 weights include subnormals and signed zeros, which the in-register widening must get right.
 */
@org.junit.jupiter.api.condition.EnabledIf(value = "vectorApiLoaded", disabledReason = "the JVM runs without jdk.incubator.vector")
class HalfKernelsTest {

  static boolean vectorApiLoaded() {
    return VectorKernelsTest.vectorApiLoaded();
  }

  /** {@code n} random 16-bit weights, F16 subnormals and signed zeros among them, and the same widened to fp32. */
  private record Weights(MemorySegment half, MemorySegment wide) {
    static Weights random(DType type, int n, SplittableRandom random) {
      ByteBuffer half = ByteBuffer.allocateDirect(2 * n).order(ByteOrder.nativeOrder());
      ByteBuffer wide = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder());
      for (int i = 0; i < n; i++) {
        float v = (float) random.nextDouble(-1, 1);
        if (i % 97 == 3) {
          v = 3e-6f * (float) random.nextDouble(-1, 1); // below F16's smallest normal, 6.1e-5
        } else if (i % 101 == 5) {
          v = -0f;
        }
        short bits = type.narrow(v);
        half.putShort(2 * i, bits);
        wide.putFloat(4 * i, type.widen(bits));
      }
      return new Weights(MemorySegment.ofBuffer(half), MemorySegment.ofBuffer(wide));
    }
  }

  private static float[] inputs(SplittableRandom random, int n) {
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) random.nextDouble(-1, 1);
    }
    return x;
  }

  static Stream<Arguments> shapes() {
    return VectorKernelsTest.shapes().flatMap(a -> Stream.of(DType.BF16, DType.F16)
        .map(t -> Arguments.of(t, a.get()[0], a.get()[1], a.get()[2])));
  }

  /**
   * One row with inputs enough for a partial per thread (up to 16): outputs without a block of
   * {@code 2L} (AVX-512's 32) columns, in whole blocks, and with a one- or many-column tail past
   * them, so the vector unpermute and the columns past it both meet several partials.
   */
  static Stream<Arguments> oneRowShapes() {
    return Stream.of(200, 1030).flatMap(in -> Stream.of(20, 192, 193, 223)
        .flatMap(out -> Stream.of(DType.BF16, DType.F16).map(t -> Arguments.of(t, in, out, 1))));
  }

  @ParameterizedTest(name = "{0} in={1} out={2} rows={3}")
  @MethodSource({"shapes", "oneRowShapes"})
  void sixteenBitProductEqualsFp32ProductOfTheWidenedWeights(DType type, int in, int out, int rows) {
    SplittableRandom random = new SplittableRandom(17L * in + out + rows);
    Weights w = Weights.random(type, in * out, random);
    float[] x = inputs(random, rows * in);
    float[] expected = new float[rows * out];
    VectorKernels.matmul(w.wide(), in, out, x, rows, expected, false);
    float[] actual = new float[rows * out];
    java.util.Arrays.fill(actual, Float.NaN); // every output must be written
    HalfKernels.matmul(w.half(), type == DType.F16, false, in, out, x, rows, actual, false);
    assertThat(actual).containsExactly(expected);
  }

  /**
   * Batch-invariant decoding: in fixed order a row alone equals, bit for bit, the same row in a
   * batch, for fp32 ({@link VectorKernels}) and 16-bit weights, at every shape.
   */
  @ParameterizedTest(name = "{0} in={1} out={2} rows={3}")
  @MethodSource("shapes")
  void inFixedOrderARowAloneEqualsItsRowInABatch(DType type, int in, int out, int rows) {
    SplittableRandom random = new SplittableRandom(31L * in + out + rows);
    Weights w = Weights.random(type, in * out, random);
    int batch = rows + 1; // more than one row: the tiles, whatever the fixed-order flag
    float[] x = inputs(random, batch * in);
    float[] wideBatch = new float[batch * out];
    float[] halfBatch = new float[batch * out];
    VectorKernels.matmul(w.wide(), in, out, x, batch, wideBatch, false);
    HalfKernels.matmul(w.half(), type == DType.F16, false, in, out, x, batch, halfBatch, false);
    for (int r = 0; r < batch; r++) {
      float[] row = java.util.Arrays.copyOfRange(x, r * in, (r + 1) * in);
      float[] wideAlone = new float[out];
      float[] halfAlone = new float[out];
      VectorKernels.matmul(w.wide(), in, out, row, 1, wideAlone, true);
      HalfKernels.matmul(w.half(), type == DType.F16, false, in, out, row, 1, halfAlone, true);
      assertThat(wideAlone).as("fp32 row %d", r).containsExactly(java.util.Arrays.copyOfRange(wideBatch, r * out, (r + 1) * out));
      assertThat(halfAlone).as("%s row %d", type, r).containsExactly(java.util.Arrays.copyOfRange(halfBatch, r * out, (r + 1) * out));
    }
  }

  @ParameterizedTest(name = "{0}")
  @org.junit.jupiter.params.provider.EnumSource(value = DType.class, names = {"BF16", "F16"})
  void widensEveryFiniteSixteenBitValueExactly(DType type) {
    // One row times an identity-like column: y[j] = w[0, j], so every bit pattern is widened by a vector load.
    int out = 1 << 16;
    ByteBuffer half = ByteBuffer.allocateDirect(2 * out).order(ByteOrder.nativeOrder());
    for (int j = 0; j < out; j++) {
      short bits = (short) j;
      half.putShort(2 * j, type.nonFinite(bits) ? 0 : bits);
    }
    float[] y = new float[out];
    HalfKernels.matmul(MemorySegment.ofBuffer(half), type == DType.F16, false, 1, out, new float[] {1f}, 1, y, false);
    for (int j = 0; j < out; j++) {
      short bits = (short) j;
      float expected = type.nonFinite(bits) ? 0f : type.widen(bits);
      assertThat(Float.floatToRawIntBits(y[j])).as("bits 0x%04x", j)
          .isEqualTo(Float.floatToRawIntBits(expected + 0f * 0f));
    }
  }

  /**
   * Shapes the kernels keep in tiles ({@link HalfKernels#tileColumns}): one and two tiles of
   * inputs per thread and more, from two tiles of columns to the widest tiled, with 1, several
   * and more than one tile of rows at a time.
   */
  static Stream<Arguments> tiledShapes() {
    int t = 2 * VectorKernels.lanes();
    int[][] inOut = {{8, 2 * t}, {64, 3 * t}, {200, 5 * t}, {1032, 2 * t}, {96, 4096}};
    return Stream.of(DType.BF16, DType.F16).flatMap(type -> Stream.of(inOut)
        .flatMap(s -> Stream.of(1, 3, 9, 17).map(r -> Arguments.of(type, s[0], s[1], r))));
  }

  /**
   * A matrix stored in tiles gives the same products, bit for bit, as the same matrix row-major
   * (itself equal to fp32's): the one-row kernel, the batched tiles and fixed order alike. The
   * tiled copy is written through {@link SharedArray}, as a model load writes it, so its layout
   * and the kernels' must agree.
   */
  @ParameterizedTest(name = "{0} in={1} out={2} rows={3}")
  @MethodSource("tiledShapes")
  void tiledMatrixGivesTheRowMajorProducts(DType type, int in, int out, int rows) {
    int t = HalfKernels.tileColumns(in, out);
    assertThat(t).as("tile columns").isEqualTo(2 * VectorKernels.lanes());
    SplittableRandom random = new SplittableRandom(7L * in + out + rows);
    Weights w = Weights.random(type, in * out, random);
    short[] bits = w.half().toArray(java.lang.foreign.ValueLayout.JAVA_SHORT);
    SharedArray tiled = SharedArray.half(type, new ai.djl.ndarray.types.Shape(in, out), t);
    tiled.putBits(0, bits, 0, bits.length);
    assertThat(tiled.get((long) (in - 1) * out + out - 3)).isEqualTo(type.widen(bits[in * out - 3]));
    MemorySegment tiles = MemorySegment.ofBuffer(tiled.chunks().get(0));
    float[] x = inputs(random, rows * in);
    for (boolean fixedOrder : new boolean[] {false, true}) {
      float[] expected = new float[rows * out];
      HalfKernels.matmul(w.half(), type == DType.F16, false, in, out, x, rows, expected, fixedOrder);
      float[] actual = new float[rows * out];
      java.util.Arrays.fill(actual, Float.NaN);
      HalfKernels.matmul(tiles, type == DType.F16, true, in, out, x, rows, actual, fixedOrder);
      assertThat(actual).as("fixed order %s", fixedOrder).containsExactly(expected);
    }
  }

  @org.junit.jupiter.api.Test
  void onlyNarrowMatricesOfWholeTilesAreTiled() {
    int t = 2 * VectorKernels.lanes();
    assertThat(HalfKernels.tileColumns(896, 1152)).isEqualTo(t); // Qwen2.5-0.5B's q/k/v
    assertThat(HalfKernels.tileColumns(4864, 896)).isEqualTo(t); // and its down projection
    assertThat(HalfKernels.tileColumns(896, 9728)).as("gate/up: wide").isZero();
    assertThat(HalfKernels.tileColumns(900, 1152)).as("inputs not a multiple of 8").isZero();
    assertThat(HalfKernels.tileColumns(896, 1152 + t / 2)).as("outputs not whole tiles").isZero();
    assertThat(HalfKernels.tileColumns(896, t)).as("a single tile of outputs").isZero();
  }

  static Stream<Integer> attentionLengths() {
    int l = VectorKernels.lanes();
    return Stream.of(1, 5, l - 1, l, l + 3, 2 * l, 4 * l, 4 * l + 1, 5 * l + 7, 64, 128, 200);
  }

  /**
   * BF16 KV pages: attention's dot product (scores) and weighted sum of values over BF16 keys and
   * values against the fp32 kernels over the same values widened, from an unaligned element offset
   * as a head inside a slot's row is. In fixed order and for the weighted sum the results are
   * bitwise equal; the default dot adds its lanes as C2 chooses, so there they agree within float
   * rounding. The weighted sum also equals {@link VectorKernels#axpy} applied row after row: the
   * same fused multiply-adds in the same order, only kept in registers.
   */
  @ParameterizedTest(name = "n={0}")
  @MethodSource("attentionLengths")
  void bf16AttentionKernelsEqualFp32KernelsOnTheWidenedValues(int n) {
    SplittableRandom random = new SplittableRandom(31L * n);
    int offset = 3;
    int rowLen = offset + n + 1;
    int len = 3;
    int group = 2;
    Weights w = Weights.random(DType.BF16, len * rowLen, random);
    float[] q = inputs(random, n + 2);
    float[] lanes = new float[VectorKernels.lanes()];
    float fixedWide = VectorKernels.dot(w.wide(), 4L * offset, q, 2, n, lanes);
    float fixedHalf = HalfKernels.dotBf16(w.half(), 2L * offset, q, 2, n, lanes);
    assertThat(Float.floatToRawIntBits(fixedHalf)).as("fixed-order dot").isEqualTo(Float.floatToRawIntBits(fixedWide));
    double magnitude = 0;
    for (int i = 0; i < n; i++) {
      magnitude += Math.abs(w.wide().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, offset + i) * q[2 + i]);
    }
    assertThat((double) HalfKernels.dotBf16(w.half(), 2L * offset, q, 2, n, null))
        .isCloseTo(VectorKernels.dot(w.wide(), 4L * offset, q, 2, n, null), org.assertj.core.data.Offset.offset(1e-6 * magnitude + 1e-30));

    long[] wideRows = new long[len];
    long[] halfRows = new long[len];
    for (int l = 0; l < len; l++) {
      wideRows[l] = 4L * l * rowLen;
      halfRows[l] = 2L * l * rowLen;
    }
    int stride = len + 2;
    float[] p = inputs(random, group * stride);
    float[] yWide = inputs(new SplittableRandom(n), 1 + group * n);
    float[] yHalf = yWide.clone();
    float[] yRows = yWide.clone();
    VectorKernels.mix(w.wide(), wideRows, len, 4L * offset, p, stride, group, yWide, 1, n);
    HalfKernels.mixBf16(w.half(), halfRows, len, 2L * offset, p, stride, group, yHalf, 1, n);
    for (int l = 0; l < len; l++) {
      for (int g = 0; g < group; g++) {
        VectorKernels.axpy(p[g * stride + l], w.wide(), wideRows[l] + 4L * offset, yRows, 1 + g * n, n);
      }
    }
    assertThat(yHalf).as("BF16 against fp32").containsExactly(yWide);
    assertThat(yWide).as("in registers against row by row").containsExactly(yRows);
  }
}
