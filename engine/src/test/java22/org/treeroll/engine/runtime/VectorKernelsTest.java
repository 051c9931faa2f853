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

/**
 * {@link VectorKernels#matmul} against plain loops, on shapes that reach every branch: the
 * one-row kernel (odd input counts included) and register tiles, partial row tiles, output
 * columns past the last whole panel (and matrices narrower than one panel), inputs past one K
 * block, vector tails of odd widths.
 */
@org.junit.jupiter.api.condition.EnabledIf(value = "vectorApiLoaded", disabledReason = "the JVM runs without jdk.incubator.vector")
class VectorKernelsTest {

  static boolean vectorApiLoaded() {
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  static Stream<Arguments> shapes() {
    int[][] inOut = {{7, 5}, {38, 259}, {50, 38}, {64, 48}, {96, 1030}, {1030, 97}, {600, 130}};
    int[] rows = {1, 2, 3, 4, 5, 8, 9, 13, 17, 64};
    // 130 x 32801: one row sums four weight rows per pass on outputs this wide.
    return Stream.concat(
        Stream.of(inOut).flatMap(s -> java.util.stream.IntStream.of(rows).mapToObj(r -> Arguments.of(s[0], s[1], r))),
        Stream.of(1, 3).map(r -> Arguments.of(130, 32801, r)));
  }

  @ParameterizedTest(name = "in={0} out={1} rows={2}")
  @MethodSource("shapes")
  void matmulEqualsPlainLoops(int in, int out, int rows) {
    SplittableRandom random = new SplittableRandom(31L * in + out + rows);
    ByteBuffer bytes = ByteBuffer.allocateDirect(4 * in * out).order(ByteOrder.nativeOrder());
    float[] w = new float[in * out];
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) random.nextDouble(-1, 1);
      bytes.putFloat(4 * i, w[i]);
    }
    float[] x = new float[rows * in];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) random.nextDouble(-1, 1);
    }
    float[] y = new float[rows * out];
    java.util.Arrays.fill(y, Float.NaN); // every output must be written
    VectorKernels.matmul(MemorySegment.ofBuffer(bytes), in, out, x, rows, y, false);

    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double sum = 0;
        for (int k = 0; k < in; k++) {
          sum += (double) x[r * in + k] * w[k * out + o];
        }
        assertThat((double) y[r * out + o]).as("row %d, output %d", r, o)
            .isCloseTo(sum, org.assertj.core.data.Offset.offset(1e-4 * Math.sqrt(in)));
      }
    }
  }

  /** Lengths around the vector width, so both the vector loops and their scalar tails run. */
  static Stream<Integer> softmaxLengths() {
    int l = VectorKernels.lanes();
    return Stream.of(1, 2, l - 1, l, l + 1, 3 * l + 5, 1030);
  }

  @ParameterizedTest(name = "len={0}")
  @MethodSource("softmaxLengths")
  void softmaxEqualsDoublePrecisionSoftmax(int len) {
    SplittableRandom random = new SplittableRandom(len);
    int at = 3; // a row that does not start the array
    float[] s = new float[at + len + 2];
    java.util.Arrays.fill(s, 7f); // outside the row: must stay as is
    double[] expected = new double[len];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < len; i++) {
      s[at + i] = (float) random.nextDouble(-30, 30);
      max = Math.max(max, s[at + i]);
    }
    double sum = 0;
    for (int i = 0; i < len; i++) {
      expected[i] = Math.exp(s[at + i] - max);
      sum += expected[i];
    }
    VectorKernels.softmax(s, at, len);
    for (int i = 0; i < len; i++) {
      assertThat((double) s[at + i]).as("element %d", i).isCloseTo(expected[i] / sum, org.assertj.core.data.Offset.offset(1e-6));
    }
    assertThat(new float[] {s[0], s[1], s[2], s[at + len], s[at + len + 1]}).containsOnly(7f);
  }

  /**
   * The next-token distributions in vectors against the fixed-order ones (double sums, scalar
   * exp): vocabularies around the vector width and blocks of the sums, a large one, several
   * rows at different temperatures, logits spread as a trained model's are.
   */
  @ParameterizedTest(name = "vocab={0}")
  @MethodSource("vocabularies")
  void distributionsEqualTheFixedOrderOnesWithinFloatRounding(int vocab) {
    SplittableRandom random = new SplittableRandom(vocab);
    float[] temperatures = {1f, 0.6f, 1.7f};
    float[] logits = new float[temperatures.length * vocab];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (random.nextGaussian() * 4);
    }
    float[] probs = new float[logits.length];
    float[] entropies = new float[temperatures.length];
    VectorKernels.distributions(logits, vocab, temperatures, probs, entropies);
    var expected = org.treeroll.engine.sampling.NextTokenDistributions.inFixedOrder(logits, vocab, temperatures, false);
    for (int i = 0; i < probs.length; i++) {
      float want = expected.probs()[i];
      assertThat(probs[i]).as("probability %d", i).isCloseTo(want, org.assertj.core.data.Offset.offset(2e-6f * want + 1e-12f));
    }
    for (int r = 0; r < temperatures.length; r++) {
      assertThat(entropies[r]).as("entropy of row %d", r)
          .isCloseTo(expected.entropies()[r], org.assertj.core.data.Offset.offset(2e-5f));
    }
  }

  /**
   * Scoring's log-softmax at each row's target and its entropy against the same worked out in
   * double with {@link Math#exp}, including a target far in the tail (log-prob below -100, where
   * its probability underflows fp32).
   */
  @ParameterizedTest(name = "vocab={0}")
  @MethodSource("vocabularies")
  void scoresEqualTheLogSoftmaxInDouble(int vocab) {
    SplittableRandom random = new SplittableRandom(vocab + 1);
    int rows = 4;
    float[] logits = new float[rows * vocab];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (random.nextGaussian() * 4);
    }
    int[] targets = new int[rows];
    for (int r = 0; r < rows; r++) {
      targets[r] = random.nextInt(vocab);
    }
    if (vocab > 1) {
      logits[targets[rows - 1] + (rows - 1) * vocab] = -150f;
      logits[(rows - 1) * vocab + (targets[rows - 1] + 1) % vocab] = 40f;
    }
    for (float t : new float[] {1f, 0.6f}) {
      float[] logProbs = new float[rows];
      float[] entropies = new float[rows];
      VectorKernels.scores(logits, vocab, targets, 1f / t, logProbs, entropies);
      for (int r = 0; r < rows; r++) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
          max = Math.max(max, logits[r * vocab + i] / (double) t);
        }
        double sum = 0;
        double weighted = 0;
        for (int i = 0; i < vocab; i++) {
          double u = logits[r * vocab + i] / (double) t - max;
          sum += Math.exp(u);
          weighted += Math.exp(u) * u;
        }
        double logProb = logits[r * vocab + targets[r]] / (double) t - max - Math.log(sum);
        assertThat((double) logProbs[r]).as("row %d at t=%s", r, t)
            .isCloseTo(logProb, org.assertj.core.data.Offset.offset(1e-5 * Math.max(1, Math.abs(logProb))));
        assertThat((double) entropies[r]).as("entropy of row %d at t=%s", r, t)
            .isCloseTo(Math.log(sum) - weighted / sum, org.assertj.core.data.Offset.offset(2e-5));
      }
      if (vocab > 1) {
        assertThat(logProbs[rows - 1]).isLessThan(-100f).isFinite();
      }
    }
  }

  static Stream<Integer> vocabularies() {
    int l = VectorKernels.lanes();
    return Stream.of(1, l - 1, l, l + 3, 64 * l, 64 * l + 5, 151_936);
  }

  /** The vector exp of non-positive inputs against {@link Math#exp}: within 2 ulps, zero past underflow. */
  @org.junit.jupiter.api.Test
  void expOfNonPositiveInputsIsWithinTwoUlps() {
    int l = VectorKernels.lanes();
    SplittableRandom random = new SplittableRandom(5);
    float[] x = new float[64 * l];
    for (int i = 0; i < x.length; i++) {
      x[i] = i < 8 ? new float[] {0f, -0f, -1e-30f, -0.34657f, -0.34658f, -87.33f, -87.34f, -1000f}[i]
          : (float) random.nextDouble(-90, 0);
    }
    float[] y = new float[x.length];
    for (int i = 0; i < x.length; i += l) {
      VectorKernels.expNonPositive(jdk.incubator.vector.FloatVector.fromArray(jdk.incubator.vector.FloatVector.SPECIES_PREFERRED, x, i))
          .intoArray(y, i);
    }
    for (int i = 0; i < x.length; i++) {
      float want = (float) Math.exp(x[i]);
      if (x[i] < -87.33654f) {
        assertThat(y[i]).as("exp(%s)", x[i]).isZero();
      } else {
        assertThat(y[i]).as("exp(%s)", x[i]).isCloseTo(want, org.assertj.core.data.Offset.offset(2 * Math.ulp(want)));
      }
    }
    assertThat(y[0]).isEqualTo(1f);
  }

  /**
   * SwiGLU's {@code silu(gate) * up} in vectors against the same in double: within a few ulps for
   * gates of both signs, tiny and past exp's range, and columns past the last whole vector; the
   * fixed-order (scalar) path within the same. Below -87.3 the vector exp is 0 where the true one
   * is subnormal, so those products are 0 instead of ~1e-36.
   */
  @org.junit.jupiter.api.Test
  void siluMulOfBothSignsIsCloseToDouble() {
    int l = VectorKernels.lanes();
    int ff = 8 * l + 5;
    int rows = 3;
    SplittableRandom random = new SplittableRandom(11);
    float[] gateUp = new float[rows * 2 * ff];
    float[] special = {0f, -0f, 1e-30f, -1e-30f, 20f, -20f, 88f, -88f, 100f, -100f, 1000f, -1000f};
    for (int i = 0; i < gateUp.length; i++) {
      gateUp[i] = i < special.length ? special[i] : (float) random.nextDouble(-12, 12);
    }
    for (boolean fixedOrder : new boolean[] {false, true}) {
      float[] act = new float[rows * ff];
      VectorKernels.siluMul(gateUp, ff, rows, act, fixedOrder);
      for (int t = 0; t < rows; t++) {
        for (int k = 0; k < ff; k++) {
          double g = gateUp[t * 2 * ff + k];
          double up = gateUp[t * 2 * ff + ff + k];
          double want = g / (1 + Math.exp(-g)) * up;
          assertThat((double) act[t * ff + k]).as("silu(%s) * %s, fixed order %s", g, up, fixedOrder)
              .isCloseTo(want, org.assertj.core.data.Offset.offset(4 * Math.ulp((float) want) + 1e-30));
        }
      }
    }
  }
}
