package org.treeroll.engine.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * This machine's ceilings, measured in the run that reports against them: streaming memory read
 * bandwidth (a multi-GB buffer read by every core, in Java and through PyTorch; the better of the
 * two counts) and fp32 matmul throughput through DJL.
 */
public record MachineLimits(double javaReadGBs, double torchReadGBs, double matmulGflops) {

  /** The memory read ceiling: the best streaming read measured. */
  public double memoryGBs() {
    return Math.max(javaReadGBs, torchReadGBs);
  }

  public static MachineLimits measure(Device device, long readBytes) {
    return new MachineLimits(javaRead(readBytes), torchRead(device, readBytes), matmul(device, 2048));
  }

  /** Sums a long[] of {@code bytes} with one thread per core; best of five passes. */
  static double javaRead(long bytes) {
    int threads = Runtime.getRuntime().availableProcessors();
    int perThread = (int) Math.min(Integer.MAX_VALUE - 8, bytes / 8 / threads);
    long[][] parts = new long[threads][];
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> fill = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int id = t;
        fill.add(pool.submit(() -> {
          parts[id] = new long[perThread];
          java.util.Arrays.fill(parts[id], id + 1);
        }));
      }
      for (Future<?> f : fill) {
        f.get();
      }
      double best = 0;
      long sink = 0;
      for (int pass = 0; pass < 5; pass++) {
        List<Future<Long>> sums = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int t = 0; t < threads; t++) {
          long[] a = parts[t];
          sums.add(pool.submit(() -> sum(a)));
        }
        for (Future<Long> f : sums) {
          sink += f.get();
        }
        double sec = (System.nanoTime() - t0) / 1e9;
        best = Math.max(best, 8.0 * perThread * threads / sec / 1e9);
      }
      if (sink == 42) {
        System.out.print(""); // keeps the sums alive
      }
      return best;
    } catch (Exception e) {
      throw new IllegalStateException("memory bandwidth measurement failed", e);
    } finally {
      pool.shutdownNow();
    }
  }

  private static long sum(long[] a) {
    long s = 0;
    for (long v : a) {
      s += v;
    }
    return s;
  }

  /** torch.sum over an fp32 array of {@code bytes}; best of five. */
  static double torchRead(Device device, long bytes) {
    try (NDManager m = NDManager.newBaseManager(device)) {
      NDArray a = m.ones(new Shape(bytes / 4));
      double best = 0;
      for (int pass = 0; pass < 5; pass++) {
        long t0 = System.nanoTime();
        try (NDManager s = m.newSubManager()) {
          NDArray r = a.sum();
          r.attach(s);
          r.getFloat();
        }
        best = Math.max(best, bytes / ((System.nanoTime() - t0) / 1e9) / 1e9);
      }
      return best;
    }
  }

  /** fp32 n x n x n matmul; best of five, GFLOP/s. */
  static double matmul(Device device, int n) {
    try (NDManager m = NDManager.newBaseManager(device)) {
      NDArray a = m.randomUniform(-1, 1, new Shape(n, n));
      NDArray b = m.randomUniform(-1, 1, new Shape(n, n));
      double best = 0;
      for (int pass = 0; pass < 5; pass++) {
        long t0 = System.nanoTime();
        try (NDManager s = m.newSubManager()) {
          NDArray c = a.matMul(b);
          c.attach(s);
          c.getFloat(0, 0);
        }
        best = Math.max(best, 2.0 * n * n * n / ((System.nanoTime() - t0) / 1e9) / 1e9);
      }
      return best;
    }
  }
}
