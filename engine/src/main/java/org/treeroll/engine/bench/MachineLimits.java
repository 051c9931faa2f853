package org.treeroll.engine.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.nio.LongBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToDoubleFunction;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.treeroll.engine.runtime.LargeBuffers;

/**
 * This machine's ceilings at one moment: streaming memory read bandwidth (a multi-GB buffer read
 * by every core, in Java and through PyTorch; the better of the two counts) and fp32 matmul
 * throughput through DJL, each the median of five passes.
 */
public record MachineLimits(double javaReadGBs, double torchReadGBs, double matmulGflops) {

  /** Each ceiling's median over {@code measured} (not empty), field by field. */
  public static MachineLimits median(List<MachineLimits> measured) {
    return new MachineLimits(median(measured, MachineLimits::javaReadGBs), median(measured, MachineLimits::torchReadGBs),
        median(measured, MachineLimits::matmulGflops));
  }

  private static double median(List<MachineLimits> measured, ToDoubleFunction<MachineLimits> field) {
    double[] v = measured.stream().mapToDouble(field).sorted().toArray();
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  /** The memory read ceiling: the better streaming read. */
  public double memoryGBs() {
    return Math.max(javaReadGBs, torchReadGBs);
  }

  /**
   * Measures {@link MachineLimits} again and again with buffers allocated once, so a benchmark
   * can compare each of its runs with the machine as it was just before: on a shared machine
   * both drift by tens of percent within minutes.
   */
  public static final class Probe implements AutoCloseable {
    private static final int PASSES = 5;
    private static final int MATMUL_N = 2048;
    private final int threads = Runtime.getRuntime().availableProcessors();
    private final ExecutorService pool = Executors.newFixedThreadPool(threads);
    // Off the Java heap: gigabytes held there for the whole benchmark made every step's large
    // arrays start a G1 concurrent cycle (heap occupancy past its threshold), hundreds per run,
    // and doubled batch-64 steps at times (bench decode with -Xlog:gc).
    private final LongBuffer[] parts;
    private final NDManager manager;
    private final NDArray stream;
    private final NDArray a;
    private final NDArray b;

    public Probe(Device device, long readBytes) {
      int perThread = (int) Math.min((Integer.MAX_VALUE - 8) / 8, readBytes / 8 / threads);
      parts = new LongBuffer[threads];
      for (int t = 0; t < threads; t++) {
        parts[t] = LargeBuffers.allocate(8 * perThread).asLongBuffer(); // the pages weights live in
        for (int i = 0; i < perThread; i++) {
          parts[t].put(i, t + 1);
        }
      }
      manager = NDManager.newBaseManager(device);
      stream = manager.ones(new Shape(readBytes / 4));
      a = manager.randomUniform(-1, 1, new Shape(MATMUL_N, MATMUL_N));
      b = manager.randomUniform(-1, 1, new Shape(MATMUL_N, MATMUL_N));
    }

    public MachineLimits measure() {
      return new MachineLimits(javaRead(), torchRead(), matmul());
    }

    /** Sums the buffers with one thread per core. */
    private double javaRead() {
      double[] passes = new double[PASSES];
      long sink = 0;
      try {
        for (int pass = 0; pass < PASSES; pass++) {
          List<Future<Long>> sums = new ArrayList<>();
          long t0 = System.nanoTime();
          for (LongBuffer part : parts) {
            sums.add(pool.submit(() -> sum(part)));
          }
          for (Future<Long> f : sums) {
            sink += f.get();
          }
          passes[pass] = 8.0 * parts[0].capacity() * threads / ((System.nanoTime() - t0) / 1e9) / 1e9;
        }
      } catch (Exception e) {
        throw new IllegalStateException("memory bandwidth measurement failed", e);
      }
      if (sink == 42) {
        System.out.print(""); // keeps the sums alive
      }
      return median(passes);
    }

    /** torch.sum over the fp32 buffer. */
    private double torchRead() {
      double[] passes = new double[PASSES];
      for (int pass = 0; pass < PASSES; pass++) {
        long t0 = System.nanoTime();
        try (NDManager s = manager.newSubManager()) {
          NDArray r = stream.sum();
          r.attach(s);
          r.getFloat();
        }
        passes[pass] = 4.0 * stream.size() / ((System.nanoTime() - t0) / 1e9) / 1e9;
      }
      return median(passes);
    }

    /** fp32 n x n x n matmul, GFLOP/s. */
    private double matmul() {
      double[] passes = new double[PASSES];
      for (int pass = 0; pass < PASSES; pass++) {
        long t0 = System.nanoTime();
        try (NDManager s = manager.newSubManager()) {
          NDArray c = a.matMul(b);
          c.attach(s);
          c.getFloat(0, 0);
        }
        passes[pass] = 2.0 * MATMUL_N * MATMUL_N * MATMUL_N / ((System.nanoTime() - t0) / 1e9) / 1e9;
      }
      return median(passes);
    }

    private static long sum(LongBuffer a) {
      long s = 0;
      for (int i = 0, n = a.capacity(); i < n; i++) {
        s += a.get(i);
      }
      return s;
    }

    private static double median(double[] x) {
      double[] s = x.clone();
      Arrays.sort(s);
      return s[s.length / 2];
    }

    @Override
    public void close() {
      pool.shutdownNow();
      manager.close();
    }
  }
}
