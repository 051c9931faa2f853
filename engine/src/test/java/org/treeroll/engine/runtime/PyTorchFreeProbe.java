package org.treeroll.engine.runtime;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.branching.TreeRolloutConfig;

/**
 * Run in a JVM of its own by {@link PyTorchFreeCpuPathTest}: loads a BF16 checkpoint, runs tree
 * rollouts, generation and scoring, then prints the weight type and whether libtorch is mapped.
 */
public final class PyTorchFreeProbe {
  private PyTorchFreeProbe() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    ModelConfig cfg = ModelPreset.TINY_QWEN3.config();
    RandomModelWriter.writeDirectory(dir, cfg, RandomModelWriter.tensors(cfg, 4), DType.BF16, Map.of(),
        List.of(ModelPreset.TINY_SPECIAL_TOKENS));
    try (LoadedModel lm = LoadedModel.open(dir);
        InferenceSession s = new InferenceSession(lm, 4L << 20)) {
      List<int[]> prompts = List.of(lm.tokenizer().encode("2+3="));
      SamplingParams params = SamplingParams.defaults().withSeed(1).withMaxTokens(12);
      s.rollout(prompts, new TreeRolloutConfig(4, 2, 2, 4, 2, 12), params, RolloutHooks.NONE).get(2, TimeUnit.MINUTES);
      int[] tokens = s.generate(prompts, params).get(2, TimeUnit.MINUTES).get(0).tokens();
      int[] whole = new int[prompts.get(0).length + tokens.length];
      System.arraycopy(prompts.get(0), 0, whole, 0, prompts.get(0).length);
      System.arraycopy(tokens, 0, whole, prompts.get(0).length, tokens.length);
      float[] scored = s.score(List.of(whole), 1.0).get(2, TimeUnit.MINUTES).get(0).logProbs();
      System.out.println("weights " + lm.model().weightType() + ", scored " + scored.length + " tokens");
    }
    boolean mapped = Files.readAllLines(Path.of("/proc/self/maps")).stream().anyMatch(l -> l.contains("libtorch"));
    System.out.println("libtorch mapped: " + mapped);
  }
}
