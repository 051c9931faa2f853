package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.TinyModels;
import org.treeroll.engine.model.WeightNames;
import org.treeroll.kvcache.PagePool;
import org.treeroll.kvcache.PageTable;

/** The forward path is chosen once per model, logged with its reason, and its steps counted. */
class ForwardPathTest {
  private final ModelConfig cfg = ModelPreset.TINY_QWEN3.config();
  private final Logger log = (Logger) LoggerFactory.getLogger(LlamaDecoder.class);
  private final ListAppender<ILoggingEvent> events = new ListAppender<>();

  @BeforeEach
  void capture() {
    events.start();
    log.addAppender(events);
  }

  @AfterEach
  void release() {
    log.detachAppender(events);
  }

  @Test
  void theJavaKernelsAreLoggedWithTheirVectorShape() {
    assumeTrue(JavaForward.available(), "the Vector API path needs JDK 22+");
    try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, 1), DjlRuntime.device())) {
      assertThat(model.hasJavaPath()).isTrue();
      assertThat(pathLines()).singleElement().satisfies(e -> {
        assertThat(e.getLevel()).isEqualTo(Level.INFO);
        assertThat(e.getFormattedMessage()).matches("forward path: Java Vector API kernels \\(JDK "
            + Runtime.version().feature() + ", CPU, \\d+-bit vectors: \\d+ float lanes, \\d+ threads\\)");
      });
    }
  }

  @Test
  void pyTorchIsLoggedWithItsReason() {
    try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, 1), DjlRuntime.device(), true)) {
      assertThat(model.hasJavaPath()).isFalse();
      String reason = JavaForward.available() ? "the weights were laid out for PyTorch's matmuls at load"
          : JavaForward.unavailableReason();
      assertThat(pathLines()).singleElement().satisfies(e -> {
        assertThat(e.getLevel()).isEqualTo(Level.INFO);
        assertThat(e.getFormattedMessage()).isEqualTo("forward path: PyTorch (reason: " + reason + ")");
      });
    }
  }

  @Test
  void theJvmsReasonNamesTheMissingPiece() {
    String reason = JavaForward.unavailableReason();
    if (Runtime.version().feature() >= 22 && ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      // The suite's PyTorch-only pass (`-P pytorch-only`) leaves the module out.
      assertThat(reason).isEqualTo("the jdk.incubator.vector module is not loaded; start the JVM with"
          + " --add-modules jdk.incubator.vector");
    } else if (Runtime.version().feature() >= 22) {
      assertThat(reason).isNull(); // the test JVM runs with jdk.incubator.vector and the kernels are built
    } else {
      assertThat(reason).isEqualTo("JDK " + Runtime.version().feature() + " has no Vector API path; the kernels"
          + " need JDK 22+ with jdk.incubator.vector");
    }
  }

  /**
   * A model whose embedding (and tied LM head) is over 2 GiB, vocabulary 2^23 + 1 by hidden 64,
   * runs its steps on the Java kernels, which read it where PyTorch does: their logits equal
   * PyTorch's on the same weights. One layer; ~2 GiB of heap for the embedding while loading, and
   * ~2 GiB of native memory for the model, freed when it closes.
   */
  @Test
  void aModelWithAnEmbeddingOver2GibRunsOnTheJavaKernels() {
    assumeTrue(JavaForward.available(), "the Vector API path needs JDK 22+");
    int vocab = (1 << 23) + 1;
    ModelConfig big = withVocab(cfg, vocab);
    assertThat(4L * vocab * cfg.hiddenSize()).isGreaterThan(1L << 31);
    try (LlamaDecoder model = LlamaDecoder.load(big, largeEmbedding(big), DjlRuntime.device())) {
      assertThat(model.hasJavaPath()).isTrue();
      assertThat(pathLines()).singleElement().satisfies(e ->
          assertThat(e.getFormattedMessage()).startsWith("forward path: Java Vector API kernels"));
      // Tokens whose embedding columns end in each of the embedding's three buffers.
      int[] prompt = {vocab - 1, 3, 1 << 22};
      float[][] java = promptThenOneToken(model, prompt, vocab - 2);
      assertThat(model.forwardSteps()).isEqualTo(new ForwardSteps(2, 0));
      model.setJavaMaxTokens(0);
      float[][] pytorch = promptThenOneToken(model, prompt, vocab - 2);
      assertThat(model.forwardSteps()).isEqualTo(new ForwardSteps(2, 2));
      assertThat(LlamaDecoderTest.maxAbsDiff(java, pytorch)).isLessThan(1e-4);
      assertThat(java[3][vocab - 1]).isNotEqualTo(java[3][0]); // logits that vary, to the last token
    }
  }

  /**
   * A KV store whose layer is over 2 GiB (2^29 + 1024 floats) runs steps on the Java kernels too: a
   * sequence whose pages straddle the first 1 GiB boundary of the layer's memory gets the logits
   * PyTorch computes. One layer; ~2 GiB of native memory, freed when the store closes.
   */
  @Test
  void aKvStoreWithALayerOver2GibStaysOnTheJavaKernels() {
    assumeTrue(JavaForward.available(), "the Vector API path needs JDK 22+");
    ModelConfig oneLayer = withVocab(cfg, cfg.vocabSize());
    int pageSize = 16;
    int pages = (1 << 19) + 1; // 1024 floats a page: 64 a slot (one KV head of 32, keys and values)
    assertThat(4L * pages * pageSize * 2 * oneLayer.numKvHeads() * oneLayer.headDim()).isGreaterThan(1L << 31);
    int[] prompt = new SplittableRandom(4).ints(100, 0, cfg.vocabSize()).toArray();
    try (LlamaDecoder model = LlamaDecoder.load(oneLayer, TinyModels.weights(oneLayer, 1), DjlRuntime.device());
        KvStore kv = model.newKvStore(new PagePool(pages, pageSize))) {
      assertThat(kv.layerChunks(0)).hasSize(3);
      // Hold the pages below the boundary (slot 2^22, page 2^18): the next sequence's 7 pages straddle it.
      for (int p = 0; p < (1 << 18) - 3; p++) {
        assertThat(kv.pool().allocate()).isEqualTo(p);
      }
      float[][] java = promptThenOneToken(model, kv, prompt, 7);
      model.setJavaMaxTokens(0);
      float[][] pytorch = promptThenOneToken(model, kv, prompt, 7);
      assertThat(model.forwardSteps()).isEqualTo(new ForwardSteps(2, 2));
      assertThat(LlamaDecoderTest.maxAbsDiff(java, pytorch)).isLessThan(1e-4);
    }
  }

  /** Logits of every prompt position, then of one more token, on a fresh KV store. */
  private static float[][] promptThenOneToken(LlamaDecoder model, int[] prompt, int next) {
    try (KvStore kv = model.newKvStore(new PagePool(2, 4))) {
      return promptThenOneToken(model, kv, prompt, next);
    }
  }

  /** Logits of every prompt position, then of one more token, on a new sequence of {@code kv}. */
  private static float[][] promptThenOneToken(LlamaDecoder model, KvStore kv, int[] prompt, int next) {
    PageTable table = new PageTable(kv.pool());
    table.reserve(prompt.length);
    float[][] rows = LlamaDecoderTest.forward(model, kv, List.of(new SequenceChunk(table, prompt, true)));
    table.reserve(1);
    float[][] last = LlamaDecoderTest.forward(model, kv, List.of(new SequenceChunk(table, new int[] {next}, false)));
    table.release();
    float[][] all = java.util.Arrays.copyOf(rows, rows.length + 1);
    all[rows.length] = last[0];
    return all;
  }

  private static ModelConfig withVocab(ModelConfig c, int vocab) {
    return new ModelConfig(c.architecture(), vocab, c.hiddenSize(), c.intermediateSize(), 1, c.numHeads(),
        c.numKvHeads(), c.headDim(), c.rmsNormEps(), c.ropeTheta(), c.maxPositionEmbeddings(),
        c.tieWordEmbeddings(), c.attentionBias(), c.bosTokenId(), c.eosTokenIds());
  }

  /**
   * Random weights of {@code big}: the layers' from the tiny model of the same shape, the
   * embedding made when read (with the spread the tiny models use), so it is held once.
   */
  private static WeightSource largeEmbedding(ModelConfig big) {
    WeightSource small = TinyModels.weights(withVocab(big, 259), 1);
    return new WeightSource() {
      @Override
      public Set<String> names() {
        return small.names();
      }

      @Override
      public float[] read(String name, long... shape) {
        if (!name.equals(WeightNames.EMBED)) {
          return small.read(name, shape);
        }
        assertThat(shape).containsExactly(big.vocabSize(), big.hiddenSize());
        float[] e = new float[Math.toIntExact(shape[0] * shape[1])];
        SplittableRandom random = new SplittableRandom(2);
        float half = (float) (2 / Math.sqrt(big.hiddenSize()) * Math.sqrt(3));
        for (int i = 0; i < e.length; i++) {
          e[i] = (random.nextFloat() * 2 - 1) * half;
        }
        return e;
      }

      @Override
      public void close() {}
    };
  }

  @Test
  void stepsAreCountedOnThePathThatRanThem() {
    ForwardSteps jvmBefore = ForwardSteps.inThisJvm();
    long java = 0;
    try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, 1), DjlRuntime.device(), true)) {
      decode(model);
      assertThat(model.forwardSteps()).isEqualTo(new ForwardSteps(0, 3));
    }
    if (JavaForward.available()) {
      try (LlamaDecoder model = LlamaDecoder.load(cfg, TinyModels.weights(cfg, 1), DjlRuntime.device(), false)) {
        model.setJavaMaxTokens(1); // the prompt on PyTorch, single tokens in Java
        decode(model);
        assertThat(model.forwardSteps()).isEqualTo(new ForwardSteps(2, 1));
        java = 2;
      }
    }
    ForwardSteps jvm = ForwardSteps.inThisJvm();
    assertThat(jvm.javaVector() - jvmBefore.javaVector()).isGreaterThanOrEqualTo(java);
    assertThat(jvm.pytorch() - jvmBefore.pytorch()).isGreaterThanOrEqualTo(java > 0 ? 4 : 3);
    assertThat(jvm.toString()).matches("java-vector \\d+ steps, pytorch \\d+ steps");
  }

  /** A 5-token prompt, then two single-token steps. */
  private static void decode(Model model) {
    try (KvStore kv = model.newKvStore(new PagePool(4, 4))) {
      PageTable table = new PageTable(kv.pool());
      int[][] steps = {{1, 2, 3, 4, 5}, {6}, {7}};
      for (int[] tokens : steps) {
        table.reserve(tokens.length);
        LlamaDecoderTest.forward(model, kv, List.of(new SequenceChunk(table, tokens, false)));
      }
      table.release();
    }
  }

  private List<ILoggingEvent> pathLines() {
    return events.list.stream().filter(e -> e.getFormattedMessage().startsWith("forward path:")).toList();
  }
}
