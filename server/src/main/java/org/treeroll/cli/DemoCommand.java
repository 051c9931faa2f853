package org.treeroll.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.runtime.Scorer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The main job as far as it exists today: batched sampling of several answers per prompt, then a
 * teacher-forced rescoring of every answer to show that the recorded log-probs are exact.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Sample answers for a few prompts, rescore them, print a summary.")
final class DemoCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();
  @Mixin SamplingOptions sampling = new SamplingOptions();

  @Option(names = {"-n", "--samples"}, defaultValue = "4", description = "Answers per prompt (default: ${DEFAULT-VALUE})")
  int samples;

  private static final List<String> PROMPTS = List.of(
      "Q: 12 + 7 * 3 = ?\nA:", "Q: 45 - 18 + 6 = ?\nA:", "Q: 9 * 8 - 30 = ?\nA:", "Q: 100 / 4 + 13 = ?\nA:");

  @Override
  public Integer call() {
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(lm, 64L << 20)) {
      System.out.printf("model %s: %s, %,d parameters, device %s%n", lm.dir().getFileName(),
          lm.config().architecture().hfName(), lm.config().parameterCount(), lm.model().device());
      List<int[]> prompts = new ArrayList<>();
      for (String p : PROMPTS) {
        int[] ids = lm.tokenizer().encode(p);
        for (int s = 0; s < samples; s++) {
          prompts.add(ids);
        }
      }
      long t0 = System.nanoTime();
      List<Completion> out = session.generate(prompts, sampling.params());
      double genSec = (System.nanoTime() - t0) / 1e9;
      int generated = out.stream().mapToInt(c -> c.tokens().length).sum();
      System.out.printf("sampled %d answers (%d prompts x %d), %d tokens in %.2f s (%.0f tokens/s)%n",
          out.size(), PROMPTS.size(), samples, generated, genSec, generated / genSec);
      for (int i = 0; i < out.size(); i += samples) {
        Completion c = out.get(i);
        String text = lm.tokenizer().decode(c.tokens(), true).replace("\n", "\\n");
        System.out.printf("  %-26s -> %s [%s]%n", PROMPTS.get(i / samples).replace("\n", "\\n"),
            text.length() > 60 ? text.substring(0, 60) + "..." : text, c.finishReason().name().toLowerCase());
      }
      // Rescore prompt + answer teacher-forced: the sampled log-probs must match.
      List<int[]> full = new ArrayList<>();
      for (int i = 0; i < out.size(); i++) {
        int[] p = prompts.get(i);
        int[] r = out.get(i).tokens();
        int[] seq = java.util.Arrays.copyOf(p, p.length + r.length);
        System.arraycopy(r, 0, seq, p.length, r.length);
        full.add(seq);
      }
      List<Scorer.TokenScores> scores = session.score(full, sampling.params().logprobTemperature());
      double maxDiff = 0;
      for (int i = 0; i < out.size(); i++) {
        float[] sampled = out.get(i).logProbs();
        float[] rescored = scores.get(i).logProbs();
        int offset = prompts.get(i).length - 1;
        for (int t = 0; t < sampled.length; t++) {
          maxDiff = Math.max(maxDiff, Math.abs(sampled[t] - rescored[offset + t]));
        }
      }
      System.out.printf("rescored every answer teacher-forced: max |sampled - rescored| log-prob = %.2e%n", maxDiff);
      System.out.printf("KV: %d pages of %d tokens, peak %d in use (%.1f MB)%n", session.kv().pool().capacity(),
          session.kv().pool().pageSize(), session.kv().pool().peakPagesInUse(),
          session.kv().pool().peakPagesInUse() * session.kv().pool().pageSize() * session.kv().bytesPerToken() / 1e6);
    }
    return 0;
  }
}
