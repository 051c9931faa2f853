package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.assertj.core.data.Offset;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;

/**
 * Batch-invariant decoding ({@link SamplingParams#batchInvariant}): one seeded request gives the
 * same tokens, log-probs, entropies and top candidates, bit for bit, run alone (every decode step
 * one row), next to a request of 63 other prompts that is not batch-invariant (steps of up to 64
 * rows, prefill chunks of both mixed), and alone again in a new JVM. On the bundled model (fp32
 * weights: {@code VectorKernels}) and a tiny random BF16 model ({@code HalfKernels}). Without the
 * option, the same request alone and in the batch differ: the one-row kernel sums in another order.
 * The fixed-order log-probs and entropies agree with teacher-forced rescoring (the default path).
 *
 * <p>Main test pass only: batch-invariant decoding runs on the Java Vector API kernels, which the
 * launcher's second pass (PyTorch forward) does not load.
 */
@Timeout(600)
@EnabledIf(value = "vectorModule", disabledReason = "batch-invariant decoding needs the Vector API kernels")
class BatchInvariantTest {
  static final Path BUNDLED = Path.of(System.getProperty("treeroll.models.dir", "../models"), "treeroll-arith");
  private static final int OTHERS = 63;

  @TempDir Path tmp;

  static boolean vectorModule() {
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"bundled-fp32", "random-bf16"})
  void aloneAmongOthersAndInANewProcessGiveTheSameBits(String which) throws Exception {
    Path dir = which.equals("bundled-fp32") ? BUNDLED : tmp.resolve("tiny-qwen3-bf16");
    if (!which.equals("bundled-fp32")) {
      RandomModelWriter.write(dir, ModelPreset.TINY_QWEN3, 3, DType.BF16, null); // a byte-level tokenizer: no Qwen files
    }
    SamplingParams invariant = params().withBatchInvariant(true);
    try (LoadedModel model = LoadedModel.open(dir);
        InferenceSession session = new InferenceSession(null, model, 64L << 20, 4, 64)) {
      assertThat(model.model().weightType()).isEqualTo(which.equals("bundled-fp32") ? DType.F32 : DType.BF16);
      Completion first = session.generate(List.of(prompt()), invariant).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
      String alone = fingerprint(first);
      // The fixed-order distributions are the model's: teacher-forced rescoring agrees.
      int[] full = java.util.stream.IntStream.concat(java.util.Arrays.stream(prompt()),
          java.util.Arrays.stream(first.tokens())).toArray();
      TokenScores scores = session.score(List.of(full), invariant.temperature()).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
      for (int t = 0; t < first.tokens().length; t++) {
        int at = prompt().length - 1 + t;
        assertThat((double) first.logProbs()[t]).isCloseTo(scores.logProbs()[at], Offset.offset(1e-4));
        assertThat((double) first.entropies()[t]).isCloseTo(scores.entropies()[at], Offset.offset(1e-4));
      }
      String amongOthers = fingerprint(nextToOthers(session, invariant));
      assertThat(amongOthers).isEqualTo(alone);
      assertThat(fingerprint(session.generate(List.of(prompt()), invariant).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0))).isEqualTo(alone);
      assertThat(inNewProcess(dir)).isEqualTo(alone);

      // The control: in the faster order the batch changes the numbers.
      String fastAlone = fingerprint(session.generate(List.of(prompt()), params()).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0));
      assertThat(fingerprint(nextToOthers(session, params()))).isNotEqualTo(fastAlone);
    }
  }

  /** The request submitted right after one of {@link #OTHERS} other prompts (not batch-invariant), so their steps mix. */
  private static Completion nextToOthers(InferenceSession session, SamplingParams mine) {
    SplittableRandom rng = new SplittableRandom(99);
    List<int[]> others = new ArrayList<>();
    for (int i = 0; i < OTHERS; i++) {
      others.add(rng.ints(1 + rng.nextInt(20), 0, 256).toArray());
    }
    CompletableFuture<List<Completion>> theirs = session.generate(others, params().withSeed(3).withMaxTokens(40));
    Completion result = session.generate(List.of(prompt()), mine).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
    theirs.orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    return result;
  }

  static SamplingParams params() {
    return SamplingParams.defaults().withTemperature(0.9).withMaxTokens(24).withSeed(1234).withIgnoreEos(true)
        .withLogprobs(3);
  }

  static int[] prompt() {
    return "Q: 17 + 25 = ?\nA:".chars().toArray();
  }

  /** Every number of the completion as bits: tokens, log-probs, entropies, top candidates. */
  static String fingerprint(Completion c) {
    StringBuilder s = new StringBuilder();
    for (int t = 0; t < c.tokens().length; t++) {
      s.append(c.tokens()[t]).append(':').append(Integer.toHexString(Float.floatToRawIntBits(c.logProbs()[t])))
          .append(':').append(Integer.toHexString(Float.floatToRawIntBits(c.entropies()[t])));
      SampledToken k = c.candidates().get(t);
      for (int i = 0; i < k.topIds().length; i++) {
        s.append(',').append(k.topIds()[i]).append('=')
            .append(Integer.toHexString(Float.floatToRawIntBits(k.topLogProbs()[i])));
      }
      s.append(' ');
    }
    return s.toString().strip();
  }

  /** {@link ReplayChild} in a fresh JVM: the request alone, its fingerprint. */
  private static String inNewProcess(Path dir) throws IOException, InterruptedException {
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx2g", "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_interop_threads=1",
        "-cp", System.getProperty("java.class.path"), ReplayChild.class.getName(), dir.toString());
    Path err = Files.createTempFile("replay-child", ".err");
    try {
      Process child = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
      String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(child.waitFor(300, TimeUnit.SECONDS)).as("the child ended").isTrue();
      assertThat(child.exitValue()).as("child stderr: %s", Files.readString(err)).isZero();
      return out.lines().filter(l -> l.startsWith(ReplayChild.MARKER)).findFirst()
          .map(l -> l.substring(ReplayChild.MARKER.length())).orElseThrow();
    } finally {
      Files.delete(err);
    }
  }
}
