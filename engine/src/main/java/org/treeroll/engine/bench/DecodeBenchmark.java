package org.treeroll.engine.bench;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.TokenSampler;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;

/**
 * Decode throughput at several batch sizes: each sequence gets a random prompt, then all decode
 * together, one token per step, sampling included. Reported against what a step must move: every
 * weight byte once per step (batch 1 is bandwidth-bound) and 2 FLOPs per weight per sequence
 * plus attention (large batches are compute-bound).
 */
public final class DecodeBenchmark {
  private DecodeBenchmark() {}

  /** One batch size's result. {@code context} is the mean KV length during the timed steps. */
  public record Row(int batch, int context, double msPerStep, double tokensPerSecond,
      double weightGBs, double gflops) {}

  public static List<Row> run(Model model, int[] batches, int promptTokens, int steps, long seed) {
    ModelConfig cfg = model.config();
    List<Row> rows = new ArrayList<>();
    for (int batch : batches) {
      int warmup = 2;
      int perSeq = promptTokens + warmup + steps;
      PagePool pool = new PagePool(batch * ((perSeq + 15) / 16), 16);
      try (KvStore kv = model.newKvStore(pool)) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<PageTable> tables = new ArrayList<>();
        List<SequenceChunk> prefill = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
          PageTable t = new PageTable(pool);
          int[] prompt = rng.ints(promptTokens, 0, cfg.vocabSize()).toArray();
          t.reserve(promptTokens);
          tables.add(t);
          prefill.add(new SequenceChunk(t, prompt, false));
        }
        int[] next = sampleAll(model, kv, prefill, rng);
        long t0 = 0;
        for (int s = 0; s < warmup + steps; s++) {
          if (s == warmup) {
            t0 = System.nanoTime();
          }
          List<SequenceChunk> chunks = new ArrayList<>();
          for (int b = 0; b < batch; b++) {
            tables.get(b).reserve(1);
            chunks.add(new SequenceChunk(tables.get(b), new int[] {next[b]}, false));
          }
          next = sampleAll(model, kv, chunks, rng);
        }
        double sec = (System.nanoTime() - t0) / 1e9;
        double msPerStep = sec * 1e3 / steps;
        int context = promptTokens + warmup + steps / 2;
        double weightBytes = 4.0 * matmulParams(cfg);
        double flopsPerToken = 2.0 * matmulParams(cfg)
            + 4.0 * cfg.numLayers() * cfg.numHeads() * cfg.headDim() * context;
        rows.add(new Row(batch, context, msPerStep, batch * steps / sec,
            weightBytes / (msPerStep / 1e3) / 1e9, flopsPerToken * batch / (msPerStep / 1e3) / 1e9));
        for (PageTable t : tables) {
          t.release();
        }
      }
    }
    return rows;
  }

  /** Weights a decode step multiplies: everything but an untied input embedding. */
  public static long matmulParams(ModelConfig cfg) {
    long embed = (long) cfg.vocabSize() * cfg.hiddenSize();
    return cfg.parameterCount() - (cfg.tieWordEmbeddings() ? 0 : embed);
  }

  private static int[] sampleAll(Model model, KvStore kv, List<SequenceChunk> chunks,
      SplittableRandom rng) {
    int vocab = model.config().vocabSize();
    float[] logits;
    try (NDManager m = NDManager.newBaseManager(model.device())) {
      logits = model.forward(chunks, kv, m).toFloatArray();
    }
    int[] next = new int[chunks.size()];
    SamplingParams p = SamplingParams.defaults();
    for (int b = 0; b < next.length; b++) {
      SampledToken t = TokenSampler.sample(logits, b * vocab, vocab, p, rng);
      next[b] = t.id();
    }
    return next;
  }
}
