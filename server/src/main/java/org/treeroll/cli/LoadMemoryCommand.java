package org.treeroll.cli;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.engine.runtime.LargeBuffers;
import org.treeroll.engine.runtime.LlamaDecoder;
import org.treeroll.engine.runtime.NativeHeap;
import org.treeroll.engine.runtime.WeightPrecision;
import org.treeroll.engine.tokenizer.TextTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * Where a loaded model's resident memory goes: the parts of {@code LoadedModel.open} one at a
 * time, in its order, each followed by what it ends with (a collection, malloc_trim) and the
 * resident size once G1 has handed the heap back. The last row is what a load leaves. Weights
 * and KV pages are direct buffers, or from 2 MB up mappings in huge pages ({@link LargeBuffers}).
 */
@Command(name = "load-memory", mixinStandardHelpOptions = true,
    description = "Resident memory after each part of a model load: JVM, tokenizer, device choice, weights (16-bit as stored; PyTorch started only for fp32 ones).")
final class LoadMemoryCommand implements Callable<Integer> {
  /** Decimal megabytes, as the weight files' sizes are quoted; {@link SoakCommand#rssMb} reads MiB. */
  private static final double MB = 1e6;
  private static final double MIB = 1 << 20;

  @Mixin ModelOption model = new ModelOption();

  @Override
  public Integer call() {
    Path dir = model.resolve();
    double files = BenchCommand.Decode.weightFileBytes(dir) / MB;
    System.out.printf(Locale.ROOT, "model: %s, weight files %.0f MB; malloc_trim %s%n", dir.getFileName(), files,
        NativeHeap.available() ? "available" : "unavailable (see the log)");
    System.out.println("| after | resident MB | added MB | direct buffers MB | mapped MB | Java heap committed MB |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    double start = row("JVM start", Double.NaN);
    ModelConfig cfg = ModelConfig.read(dir);
    try (TextTokenizer tokenizer = TextTokenizer.load(dir)) {
      double tok = row("tokenizer", start);
      double device;
      try (WeightSource weights = WeightSource.open(dir)) {
        // Choosing the device starts PyTorch only where the bundled libtorch could see a GPU;
        // the model starts it only for fp32 matrices.
        DjlRuntime.device();
        device = row("device chosen", tok);
        try (LlamaDecoder decoder = LlamaDecoder.load(cfg, weights, DjlRuntime.device(), WeightPrecision.AS_STORED)) {
          decoder.awaitWarmUp();
          double loaded = row("weights and kernel warm-up", device);
          System.out.printf(Locale.ROOT, "loaded: %.2fx the weight files%n", loaded / files);
        }
      }
    }
    return 0;
  }

  /** Collects, trims, prints one row and returns the settled resident size in MB. */
  private static double row(String part, double before) {
    System.gc();
    NativeHeap.trim();
    double rss = SoakCommand.settledRssMb() * MIB / MB;
    double direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
        .filter(b -> b.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum() / MB;
    System.out.printf(Locale.ROOT, "| %s | %.0f | %s | %.0f | %.0f | %.0f |%n", part, rss,
        Double.isNaN(before) ? "" : String.format(Locale.ROOT, "%.0f", rss - before), direct,
        LargeBuffers.mappedBytes() / MB, Runtime.getRuntime().totalMemory() / MB);
    return rss;
  }
}
