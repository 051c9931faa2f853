package org.treeroll.engine.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Matrix-vector kernels on the JDK's Vector API, for forward steps of a few tokens. Such a step
 * is bound by reading the weights once, and these kernels stream them at 35-49 GB/s here where
 * PyTorch's CPU gemv reaches 20-33 GB/s (measured on this project's Qwen2.5-0.5B shapes, 2 cores,
 * weights not in cache; see docs/benchmarks.md).
 *
 * <p>Two forms, one per weight layout of {@link LlamaDecoder.Projection}: rows of {@code W[out, in]} dotted
 * with the input (each thread owns a range of outputs), and rows of {@code W[in, out]} scaled and
 * summed (each thread owns a range of inputs and a private partial result, summed at the end).
 * Both read every weight exactly once per call, whatever the number of input rows.
 */
final class VectorKernels {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
  private static final int L = S.length();
  private static final ByteOrder ORDER = ByteOrder.nativeOrder();
  private static final int THREADS = Runtime.getRuntime().availableProcessors();
  /** The calling thread runs one share; these run the others, for one caller at a time. */
  private static final Helper[] HELPERS = new Helper[THREADS - 1];
  private static final ReentrantLock TEAM_LOCK = new ReentrantLock();

  static {
    for (int i = 0; i < HELPERS.length; i++) {
      HELPERS[i] = new Helper(i);
      HELPERS[i].start();
    }
  }

  private VectorKernels() {}

  /**
   * {@code y[r, :] = x[r, :] W} for {@code rows} input rows, with {@code W} stored as
   * {@code [in, out]} when {@code inMajor}, else as {@code [out, in]}.
   */
  static void matmul(MemorySegment w, boolean inMajor, int in, int out, float[] x, int rows, float[] y) {
    if (inMajor) {
      scaledRowSums(w, in, out, x, rows, y);
    } else {
      rowDots(w, in, out, x, rows, y);
    }
  }

  /** {@code W[out, in]}: each output is a dot product of a weight row with each input row. */
  private static void rowDots(MemorySegment w, int in, int out, float[] x, int rows, float[] y) {
    parallel(out, 64, (from, to) -> {
      int o = from;
      if (rows == 1) {
        // Two weight rows at a time: two streams in flight, one load of x for both.
        for (; o + 2 <= to; o += 2) {
          dot2(w, 4L * o * in, 4L * (o + 1) * in, x, in, y, o);
        }
      }
      for (; o < to; o++) {
        long base = 4L * o * in;
        for (int r = 0; r < rows; r++) {
          y[r * out + o] = dot(w, base, x, r * in, in);
        }
      }
    });
  }

  /**
   * {@code W[in, out]}: output row {@code += x[i] * W[i, :]}, four weight rows at a time so the
   * partial result is loaded and stored once per four weight rows.
   */
  private static void scaledRowSums(MemorySegment w, int in, int out, float[] x, int rows, float[] y) {
    int parts = Math.min(THREADS, Math.max(1, in / 64));
    float[][] partials = new float[parts][];
    parallelParts(parts, p -> {
      int from = (int) ((long) in * p / parts);
      int to = (int) ((long) in * (p + 1) / parts);
      float[] acc = p == 0 ? y : new float[rows * out];
      if (p == 0) {
        java.util.Arrays.fill(acc, 0, rows * out, 0f);
      }
      int ub = S.loopBound(out);
      int i = from;
      for (; i + 4 <= to; i += 4) {
        long r0 = 4L * i * out;
        long stride = 4L * out;
        for (int j = 0; j < ub; j += L) {
          long at = r0 + 4L * j;
          FloatVector w0 = FloatVector.fromMemorySegment(S, w, at, ORDER);
          FloatVector w1 = FloatVector.fromMemorySegment(S, w, at + stride, ORDER);
          FloatVector w2 = FloatVector.fromMemorySegment(S, w, at + 2 * stride, ORDER);
          FloatVector w3 = FloatVector.fromMemorySegment(S, w, at + 3 * stride, ORDER);
          for (int r = 0; r < rows; r++) {
            int xo = r * in + i;
            int yo = r * out + j;
            FloatVector v = FloatVector.fromArray(S, acc, yo);
            v = w0.fma(FloatVector.broadcast(S, x[xo]), v);
            v = w1.fma(FloatVector.broadcast(S, x[xo + 1]), v);
            v = w2.fma(FloatVector.broadcast(S, x[xo + 2]), v);
            v = w3.fma(FloatVector.broadcast(S, x[xo + 3]), v);
            v.intoArray(acc, yo);
          }
        }
        for (int j = ub; j < out; j++) {
          for (int r = 0; r < rows; r++) {
            int xo = r * in + i;
            float s = 0;
            for (int k = 0; k < 4; k++) {
              s += x[xo + k] * w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) (i + k) * out + j);
            }
            acc[r * out + j] += s;
          }
        }
      }
      for (; i < to; i++) {
        for (int r = 0; r < rows; r++) {
          float xi = x[r * in + i];
          for (int j = 0; j < out; j++) {
            acc[r * out + j] += xi * w.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * out + j);
          }
        }
      }
      partials[p] = acc;
    });
    for (int p = 1; p < parts; p++) {
      add(y, partials[p], rows * out);
    }
  }

  /** {@code sum_k w[base/4 + k] * x[xo + k]} over {@code n} floats. */
  static float dot(MemorySegment w, long base, float[] x, int xo, int n) {
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
    float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) {
      s += w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, base + 4L * i) * x[xo + i];
    }
    return s;
  }

  /** {@code y[o] = dot(w row at a, x)} and {@code y[o + 1] = dot(w row at b, x)}. */
  private static void dot2(MemorySegment w, long a, long b, float[] x, int n, float[] y, int o) {
    FloatVector a0 = FloatVector.zero(S);
    FloatVector a1 = FloatVector.zero(S);
    FloatVector b0 = FloatVector.zero(S);
    FloatVector b1 = FloatVector.zero(S);
    int i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      FloatVector x0 = FloatVector.fromArray(S, x, i);
      FloatVector x1 = FloatVector.fromArray(S, x, i + L);
      a0 = FloatVector.fromMemorySegment(S, w, a + 4L * i, ORDER).fma(x0, a0);
      b0 = FloatVector.fromMemorySegment(S, w, b + 4L * i, ORDER).fma(x0, b0);
      a1 = FloatVector.fromMemorySegment(S, w, a + 4L * (i + L), ORDER).fma(x1, a1);
      b1 = FloatVector.fromMemorySegment(S, w, b + 4L * (i + L), ORDER).fma(x1, b1);
    }
    float sa = a0.add(a1).reduceLanes(VectorOperators.ADD);
    float sb = b0.add(b1).reduceLanes(VectorOperators.ADD);
    for (; i < n; i++) {
      sa += w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, a + 4L * i) * x[i];
      sb += w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, b + 4L * i) * x[i];
    }
    y[o] = sa;
    y[o + 1] = sb;
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

  /** {@code act[t, k] = silu(gate[t, k]) * up[t, k]} for rows {@code [gate | up]} of width {@code 2 ff}. */
  static void siluMul(float[] gateUp, int ff, int rows, float[] act) {
    for (int t = 0; t < rows; t++) {
      int g0 = t * 2 * ff;
      int u0 = g0 + ff;
      int a0 = t * ff;
      int k = 0;
      for (int ub = S.loopBound(ff); k < ub; k += L) {
        FloatVector g = FloatVector.fromArray(S, gateUp, g0 + k);
        FloatVector sig = g.neg().lanewise(VectorOperators.EXP).add(1f);
        g.div(sig).mul(FloatVector.fromArray(S, gateUp, u0 + k)).intoArray(act, a0 + k);
      }
      for (; k < ff; k++) {
        float g = gateUp[g0 + k];
        act[a0 + k] = g / (1f + (float) Math.exp(-g)) * gateUp[u0 + k];
      }
    }
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

  /** Runs {@code body} over {@code [0, n)} split evenly over the cores, shares of at least {@code grain}. */
  static void parallel(int n, int grain, Range body) {
    int parts = Math.min(THREADS, Math.max(1, n / grain));
    parallelParts(parts, p -> body.run((int) ((long) n * p / parts), (int) ((long) n * (p + 1) / parts)));
  }

  private static void parallelParts(int parts, IntConsumer part) {
    if (parts == 1 || !TEAM_LOCK.tryLock()) {
      // One share, or another thread's step holds the helpers: run every share here.
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
