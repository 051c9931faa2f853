package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIf;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.TinyModels;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.Scheduler;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * BF16 KV pages ({@link KvDtype}): half the bytes per token, so a budget holds twice the pages;
 * keys and values rounded once when written, so logits move slightly from fp32 pages; tree
 * decoding over shared BF16 pages still equals each path decoded alone over BF16 pages; and a
 * model whose steps run on PyTorch refuses them. The kernels themselves are held to the fp32
 * kernels in {@code HalfKernelsTest}.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class Bf16KvPagesTest {
  static final ModelConfig CFG = ModelPreset.TINY_QWEN2.config();

  static boolean javaKernels() {
    return JavaForward.available() && !DjlRuntime.device().isGpu();
  }

  @Test
  void aBf16PageTakesHalfTheBytesOfAnFp32One() {
    assertThat(KvStore.bytesPerToken(CFG, KvDtype.BF16) * 2).isEqualTo(KvStore.bytesPerToken(CFG, KvDtype.F32));
  }

  @Test
  void theSameBudgetHoldsTwiceThePagesInBf16() {
    Path dir = Path.of(System.getProperty("treeroll.models.dir", "../models")).resolve("treeroll-arith");
    long budget = 8L << 20;
    try (LoadedModel lm = LoadedModel.open(dir)) {
      int fp32Pages;
      try (InferenceSession s = new InferenceSession(lm, budget)) {
        fp32Pages = s.stats().orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().pages();
        assertThat(s.kvDtype()).isEqualTo(KvDtype.F32);
      }
      assertThat(fp32Pages).isEqualTo((int) (budget / (KvStore.bytesPerToken(lm.config(), KvDtype.F32)
          * InferenceSession.DEFAULT_PAGE_SIZE)));
      if (!javaKernels()) {
        assertThatThrownBy(() -> new InferenceSession(lm, budget, KvDtype.BF16)).isInstanceOf(TreeRollException.class);
        return;
      }
      try (InferenceSession s = new InferenceSession(lm, budget, KvDtype.BF16)) {
        assertThat(s.stats().orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().pages()).isEqualTo(2 * fp32Pages);
        assertThat(s.kvBytesPerPage() * s.stats().orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().pages()).isLessThanOrEqualTo(budget);
      }
    }
  }

  @Test
  @EnabledIf("javaKernels")
  void bf16PagesMoveLogitsSlightlyAndIncrementalDecodeStillEqualsRecompute() {
    int[] tokens = new SplittableRandom(5).ints(41, 0, CFG.vocabSize()).toArray();
    try (LlamaDecoder model = LlamaDecoder.load(CFG, TinyModels.weights(CFG, 9), DjlRuntime.device());
        KvStore f32 = model.newKvStore(new PagePool(16, 4));
        KvStore bf16 = model.newKvStore(new PagePool(16, 4), KvDtype.BF16)) {
      assertThat(bf16.capacityBytes() * 2).isEqualTo(f32.capacityBytes());
      float[][] full = LlamaDecoderTest.forwardWhole(model, f32, tokens);
      float[][] rounded = LlamaDecoderTest.forwardWhole(model, bf16, tokens);
      double moved = LlamaDecoderTest.maxAbsDiff(rounded, full);
      // Rounding keys and values to 8 significant bits moves the logits, a little.
      assertThat(moved).isGreaterThan(0).isLessThan(0.05);
      // One token per step over BF16 pages reads what one step over the whole sequence wrote.
      float[][] incremental = new float[tokens.length][];
      org.treeroll.kvcache.PageTable table = new org.treeroll.kvcache.PageTable(bf16.pool());
      for (int t = 0; t < tokens.length; t++) {
        table.reserve(1);
        incremental[t] = LlamaDecoderTest.forward(model, bf16,
            List.of(new SequenceChunk(table, new int[] {tokens[t]}, false)))[0];
      }
      table.release();
      assertThat(LlamaDecoderTest.maxAbsDiff(incremental, rounded)).isLessThan(1e-4);
    }
  }

  @Test
  @EnabledIf("javaKernels")
  void treeLeavesOverSharedBf16PagesEqualTheirPathsRescoredAlone() throws Exception {
    // Segments of 5 tokens over pages of 4: forks fall inside pages, so partial BF16 pages get copied.
    TreeRolloutConfig shape = new TreeRolloutConfig(5, 4, 2, 8, 2, 20);
    SamplingParams params = SamplingParams.defaults().withSeed(3).withTemperature(1.2);
    List<int[]> prompts = List.of(new int[] {5, 6, 7, 8, 9, 10, 11}, new int[] {40, 41, 42});
    Vertx vertx = Vertx.vertx();
    try (LlamaDecoder model = LlamaDecoder.load(CFG, TinyModels.weights(CFG, 21), DjlRuntime.device());
        KvStore kv = model.newKvStore(new PagePool(256, 4), KvDtype.BF16);
        Scheduler engine = Scheduler.start(vertx, model, kv, CFG.eosTokenIds(), 64, false)) {
      List<RolloutTree> trees = engine.rollout(prompts, shape, params, RolloutHooks.NONE).get(2, TimeUnit.MINUTES);
      int leaves = 0;
      for (RolloutTree tree : trees) {
        for (SegmentNode leaf : tree.leaves()) {
          leaves++;
          int[] prompt = tree.prompt();
          int[] response = RolloutTree.responseTokens(leaf);
          int[] whole = Arrays.copyOf(prompt, prompt.length + response.length);
          System.arraycopy(response, 0, whole, prompt.length, response.length);
          float[] rescored = engine.score(List.of(whole), params.logprobTemperature()).get(2, TimeUnit.MINUTES)
              .get(0).logProbs();
          float[] recorded = RolloutTree.responseLogProbs(leaf);
          for (int t = 0; t < recorded.length; t++) {
            assertThat((double) recorded[t]).as("tree %d leaf %d token %d", tree.id(), leaf.id(), t)
                .isCloseTo(rescored[prompt.length - 1 + t], Offset.offset(1e-4));
          }
        }
      }
      assertThat(leaves).isGreaterThan(4);
      assertThat(engine.stats().get(2, TimeUnit.MINUTES).pagesInUse()).isZero();
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(2, TimeUnit.MINUTES);
    }
  }

  @Test
  void stepsOnPyTorchRefuseBf16PagesInOneLine() {
    // Laid out for PyTorch, as on GPU or a JDK without the Vector API: its KV must be fp32.
    try (LlamaDecoder model = LlamaDecoder.load(CFG, TinyModels.weights(CFG, 9), DjlRuntime.device(), true)) {
      assertThatThrownBy(() -> model.newKvStore(new PagePool(4, 4), KvDtype.BF16))
          .isInstanceOf(TreeRollException.class)
          .hasMessageContaining("16-bit KV pages run only on the Java Vector API kernels")
          .hasMessageContaining("use f32")
          .hasMessageNotContaining("\n");
    }
  }
}
