package org.treeroll.engine.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.treeroll.engine.model.Architecture;
import org.treeroll.engine.model.InMemoryWeights;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.LlamaDecoder;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;

/** The training forward against the inference engine's, and a short run that learns. */
class TrainableDecoderTest {
  static Stream<ModelConfig> configs() {
    return Stream.of(
        TrainConfig.defaultModel(),
        new ModelConfig(Architecture.LLAMA, 259, 64, 160, 2, 4, 2, 16, 1e-5, 10000, 512, true, false, -1, new int[] {256}),
        new ModelConfig(Architecture.LLAMA, 259, 64, 160, 2, 4, 4, 16, 1e-5, 500000, 512, false, false, -1, new int[] {256}),
        new ModelConfig(Architecture.QWEN3, 259, 64, 160, 2, 4, 1, 32, 1e-6, 1_000_000, 512, true, false, -1, new int[] {256}));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configs")
  void logitsMatchTheEngine(ModelConfig cfg) {
    int batch = 2;
    int length = 23;
    int[][] rows = new int[batch][];
    SplittableRandom rng = new SplittableRandom(5);
    for (int b = 0; b < batch; b++) {
      rows[b] = rng.ints(length, 0, cfg.vocabSize()).toArray();
    }
    DjlRuntime.device();
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device());
        TrainableDecoder train = TrainableDecoder.initialize(cfg, 3, m)) {
      // Larger-than-init weights so the logits spread out and the comparison means something.
      scaleUp(train);
      float[] logits;
      try (NDScope scope = new NDScope()) {
        float[] oneHot = new float[batch * length * cfg.vocabSize()];
        for (int b = 0; b < batch; b++) {
          for (int t = 0; t < length; t++) {
            oneHot[(b * length + t) * cfg.vocabSize() + rows[b][t]] = 1f;
          }
        }
        NDArray x = m.create(oneHot, new Shape((long) batch * length, cfg.vocabSize()));
        logits = train.forward(x, batch, length).toFloatArray();
      }
      var weights = InMemoryWeights.of(train.tensors());
      try (Model engine = LlamaDecoder.load(cfg, weights, DjlRuntime.device());
          KvStore kv = engine.newKvStore(new PagePool(16, 8))) {
        double maxDiff = 0;
        double spread = 0;
        for (int b = 0; b < batch; b++) {
          float[] expected = engineLogits(engine, kv, rows[b]);
          for (int i = 0; i < expected.length; i++) {
            float actual = logits[b * expected.length + i];
            maxDiff = Math.max(maxDiff, Math.abs(actual - expected[i]));
            spread = Math.max(spread, Math.abs(expected[i]));
          }
        }
        System.out.printf("%s: max |train - engine| = %.2e, max |logit| = %.2f%n", cfg.architecture(), maxDiff, spread);
        assertThat(maxDiff).isLessThan(1e-4);
        assertThat(spread).isGreaterThan(1.0);
      }
    }
  }

  @Test
  void aShortRunLowersTheLoss() {
    ModelConfig tiny = new ModelConfig(Architecture.QWEN3, 259, 64, 160, 2, 4, 2, 16, 1e-6, 10000, 512,
        true, false, -1, new int[] {256});
    TrainConfig c = TrainConfig.defaults().withModel(tiny).withSteps(40).withBatch(8)
        .withWarmupSteps(5).withLearningRate(3e-3).withSeed(11);
    Trainer.Result r = Trainer.train(c, null);
    double first = mean(r.losses(), 0, 5);
    double last = mean(r.losses(), 35, 40);
    System.out.printf("loss: first 5 steps %.3f, last 5 steps %.3f (%.1f s)%n", first, last, r.seconds());
    assertThat(first).isGreaterThan(4.0); // about ln(259) at init
    assertThat(last).isLessThan(first * 0.6);
    assertThat(r.weights().tensors()).hasSize(org.treeroll.engine.model.WeightNames.shapes(tiny).size());
  }

  private static double mean(double[] v, int from, int to) {
    double s = 0;
    for (int i = from; i < to; i++) {
      s += v[i];
    }
    return s / (to - from);
  }

  private static void scaleUp(TrainableDecoder d) {
    for (var e : d.parameters().entrySet()) {
      if (!org.treeroll.engine.model.WeightNames.isNorm(e.getKey())) {
        e.getValue().muli(5);
      } else {
        // Norm weights away from 1 so a transposed or misplaced norm would show.
        NDArray w = e.getValue();
        float[] v = w.toFloatArray();
        for (int i = 0; i < v.length; i++) {
          v[i] = 0.5f + (i % 7) * 0.15f;
        }
        w.set(v);
      }
    }
  }

  private static float[] engineLogits(Model model, KvStore kv, int[] tokens) {
    PageTable table = new PageTable(kv.pool());
    try (NDManager m = NDManager.newBaseManager(model.device())) {
      table.reserve(tokens.length);
      return model.forward(List.of(new SequenceChunk(table, tokens, true)), kv, m).toFloatArray();
    } finally {
      table.release();
    }
  }
}
