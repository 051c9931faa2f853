package org.treeroll.engine.runtime;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.WeightNames;
import org.treeroll.tree.TreeRollException;

/**
 * Whether a model's weights fit before any is allocated: a model too big for the machine
 * otherwise dies mid-load with an OutOfMemoryError, or is killed by the kernel, after minutes of
 * reading.
 */
final class MemoryFit {
  private MemoryFit() {}

  /** Bytes the weights take in memory with matrices kept in {@code matrices} (vectors are fp32). */
  static long weightBytes(ModelConfig cfg, DType matrices) {
    long bytes = 0;
    for (Map.Entry<String, long[]> e : WeightNames.shapes(cfg).entrySet()) {
      long n = 1;
      for (long d : e.getValue()) {
        n *= d;
      }
      bytes += n * (e.getValue().length == 2 ? matrices.bytes() : DType.F32.bytes());
    }
    return bytes;
  }

  /**
   * @throws TreeRollException naming both sizes if the weights need more than the machine has
   *     available, more direct memory than the JVM may allocate, or a tensor more heap to load than
   *     the JVM has
   */
  static void check(ModelConfig cfg, DType matrices) {
    long need = weightBytes(cfg, matrices);
    long available = availableBytes();
    if (available > 0 && need > available) {
      throw new TreeRollException(String.format("the model's weights need %.2f GB in memory as %s, and this"
          + " machine has %.2f GB available (MemAvailable in /proc/meminfo)", need / 1e9, matrices, available / 1e9));
    }
    // Loading passes one tensor at a time through the heap: as read (16-bit) or as fp32 values
    // plus their transposed copy.
    long largest = 0;
    for (long[] shape : WeightNames.shapes(cfg).values()) {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      largest = Math.max(largest, n * (matrices == DType.F32 ? 2 * DType.F32.bytes() : matrices.bytes()));
    }
    long heap = Runtime.getRuntime().maxMemory();
    if (largest > heap) {
      throw new TreeRollException(String.format("loading the model's largest tensor takes %.2f GB of heap as %s,"
          + " and this JVM's heap is %.2f GB (-Xmx); raise it (the launcher: TREEROLL_HEAP=NNg)", largest / 1e9, matrices,
          heap / 1e9));
    }
    // Mapped in huge pages, the weights are not direct buffers, which the JVM's limit counts.
    long direct = LargeBuffers.hugePages() ? -1 : maxDirectBytes();
    if (direct > 0 && need > direct) {
      throw new TreeRollException(String.format("the model's weights need %.2f GB of direct memory as %s, and"
          + " this JVM allows %.2f GB (-XX:MaxDirectMemorySize; the launcher gives it the RAM the heap leaves, so lower"
          + " TREEROLL_HEAP)", need / 1e9, matrices, direct / 1e9));
    }
  }

  /** MemAvailable from /proc/meminfo, or -1 where there is none (not Linux). */
  static long availableBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemAvailable:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // no /proc: nothing to check against
    }
    return -1;
  }

  /** -XX:MaxDirectMemorySize if set; -1 if left to the JVM's default (the heap's size), which the launcher never does. */
  private static long maxDirectBytes() {
    try {
      String v = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
          .getVMOption("MaxDirectMemorySize").getValue();
      long bytes = Long.parseLong(v);
      return bytes > 0 ? bytes : -1;
    } catch (RuntimeException e) {
      return -1;
    }
  }
}
