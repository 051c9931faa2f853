package org.treeroll.engine.bench;

import it.unimi.dsi.fastutil.longs.LongArrayList;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelConfig;
import io.vertx.core.Vertx;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.Scheduler;
import org.treeroll.kvcache.PagePool;

/**
 * Decode throughput at several batch sizes, through the same {@link Scheduler} users run: each
 * sequence gets a random prompt, then all decode together, sampling included. Reported against
 * what a step must do: read every weight once (batch 1 is bandwidth-bound) and spend 2 FLOPs per
 * weight per sequence plus attention (large batches are compute-bound).
 */
public final class DecodeBenchmark {
  /**
   * Untimed decode steps first: PyTorch's allocator and the JIT settle during these (the Vector
   * API kernels reach full speed only once C2 has compiled them, and on 2 busy cores that takes
   * a few seconds).
   */
  private static final int WARMUP_STEPS = 24;

  private DecodeBenchmark() {}

  /**
   * One batch size's result, from the median timed step (a 2-core machine's neighbours and the
   * JVM's own threads make single steps noisy). {@code weightGBs} counts the bytes the weights
   * are kept in ({@code weights}); {@code context} is the mean KV length; {@code limits} the
   * machine's, measured between the warm-up and the timed steps; {@code batchInvariant} whether the
   * sequences asked for batch-invariant decoding ({@link SamplingParams#batchInvariant}); {@code kv}
   * how the KV pages stored keys and values.
   */
  public record Row(DType weights, KvDtype kv, boolean batchInvariant, int batch, int context, double msPerStep, double tokensPerSecond,
      double weightGBs, double gflops, MachineLimits limits) {

    /** Weights read per second as a share of the memory read ceiling. */
    public double memoryShare() {
      return weightGBs / limits.memoryGBs();
    }

    /** FLOP/s as a share of the matmul ceiling. */
    public double matmulShare() {
      return gflops / limits.matmulGflops();
    }
  }

  /**
   * Each model's rows, model by model, batch size by batch size. With several models (the same
   * weights kept two ways) and {@code rounds > 1}, the models take turns, one round each per batch
   * size, so each sees the machine as the others did: a shared machine's memory bandwidth drifts
   * by tens of percent within minutes, more than the difference measured. A row's step time is
   * the median of its steps over all rounds; its limits the median of those measured each round.
   *
   * @param limits measures the machine; called once per model, round and batch size, right before
   *     the timed steps
   */
  public static List<Row> run(List<? extends Model> models, KvDtype kvDtype, int[] batches, int promptTokens, int steps,
      int rounds, long seed, boolean batchInvariant, Supplier<MachineLimits> limits) {
    Vertx vertx = Vertx.vertx();
    try {
      Row[][] rows = new Row[models.size()][batches.length];
      for (int b = 0; b < batches.length; b++) {
        List<LongArrayList> nanos = new ArrayList<>();
        List<List<MachineLimits>> measured = new ArrayList<>();
        for (int m = 0; m < models.size(); m++) {
          nanos.add(new LongArrayList());
          measured.add(new ArrayList<>());
        }
        for (int r = 0; r < rounds; r++) {
          for (int m = 0; m < models.size(); m++) {
            measured.get(m).add(round(vertx, models.get(m), kvDtype, batches[b], promptTokens, steps, seed,
                batchInvariant, limits, nanos.get(m)));
          }
        }
        for (int m = 0; m < models.size(); m++) {
          rows[m][b] = row(models.get(m), kvDtype, batchInvariant, batches[b], promptTokens, steps,
              nanos.get(m).toLongArray(), MachineLimits.median(measured.get(m)));
        }
      }
      List<Row> out = new ArrayList<>();
      for (Row[] perModel : rows) {
        out.addAll(List.of(perModel));
      }
      return out;
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().join();
    }
  }

  /** One round of one batch size: warm-up, the machine's limits, then {@code steps} timed steps added to {@code timed}. */
  private static MachineLimits round(Vertx vertx, Model model, KvDtype kvDtype, int batch, int promptTokens, int steps,
      long seed, boolean batchInvariant, Supplier<MachineLimits> limits, LongArrayList timed) {
    ModelConfig cfg = model.config();
    int perSeq = promptTokens + WARMUP_STEPS + steps + 1;
    PagePool pool = new PagePool(batch * ((perSeq + 15) / 16 + 1), 16);
    try (KvStore kv = model.newKvStore(pool, kvDtype);
        Scheduler engine = Scheduler.start(vertx, model, kv, new int[0], batch * promptTokens, false)) {
      LongArrayList decodeNanos = new LongArrayList();
      MachineLimits[] measured = new MachineLimits[1];
      engine.setStepListener(step -> {
        if (step.decode()) {
          decodeNanos.add(step.nanos());
          if (decodeNanos.size() == WARMUP_STEPS) {
            measured[0] = limits.get();
          }
        }
      });
      SplittableRandom rng = new SplittableRandom(seed);
      List<int[]> prompts = new ArrayList<>();
      for (int b = 0; b < batch; b++) {
        prompts.add(rng.ints(promptTokens, 0, cfg.vocabSize()).toArray());
      }
      SamplingParams p = SamplingParams.defaults().withIgnoreEos(true)
          .withMaxTokens(WARMUP_STEPS + steps + 1).withSeed(seed).withBatchInvariant(batchInvariant);
      engine.generate(prompts, p).join();
      timed.addAll(decodeNanos.subList(WARMUP_STEPS, decodeNanos.size()));
      return measured[0];
    }
  }

  private static Row row(Model model, KvDtype kvDtype, boolean batchInvariant, int batch, int promptTokens, int steps,
      long[] timed, MachineLimits limits) {
    ModelConfig cfg = model.config();
    java.util.Arrays.sort(timed);
    double msPerStep = timed[timed.length / 2] / 1e6;
    int context = promptTokens + WARMUP_STEPS + steps / 2;
    double weightBytes = (double) model.weightType().bytes() * matmulParams(cfg);
    double flopsPerToken = 2.0 * matmulParams(cfg)
        + 4.0 * cfg.numLayers() * cfg.numHeads() * cfg.headDim() * context;
    double sec = msPerStep / 1e3;
    return new Row(model.weightType(), kvDtype, batchInvariant, batch, context, msPerStep, batch / sec,
        weightBytes / sec / 1e9, flopsPerToken * batch / sec / 1e9, limits);
  }

  /** Weights a decode step multiplies: everything but an untied input embedding. */
  public static long matmulParams(ModelConfig cfg) {
    long embed = (long) cfg.vocabSize() * cfg.hiddenSize();
    return cfg.parameterCount() - (cfg.tieWordEmbeddings() ? 0 : embed);
  }
}
