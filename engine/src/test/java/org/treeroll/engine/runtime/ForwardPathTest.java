package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.TinyModels;
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
