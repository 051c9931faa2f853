package org.treeroll.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.Scorer;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The main job as far as it exists today: tree rollouts for a few prompts, a summary of the
 * trees and of the tokens the tree saved against independent sampling, a teacher-forced
 * rescoring of every answer (the recorded log-probs must match), and a tree dump.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Sample rollout trees for a few prompts, check their log-probs, write a tree dump.")
final class DemoCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();

  @Option(names = "--leaves", defaultValue = "8", description = "Answers per prompt (default: ${DEFAULT-VALUE})")
  int leaves;

  @Option(names = "--segment", defaultValue = "8", description = "Tokens per segment (default: ${DEFAULT-VALUE})")
  int segment;

  @Option(names = "--depth", defaultValue = "4", description = "Segments per answer at most (default: ${DEFAULT-VALUE})")
  int depth;

  @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--out", description = "Tree dump to write (default: .cache/demo/trees.jsonl)")
  Path out;

  private static final List<String> PROMPTS = List.of(
      "Q: 12 + 7 * 3 = ?\nA:", "Q: 45 - 18 + 6 = ?\nA:", "Q: 9 * 8 - 30 = ?\nA:", "Q: 100 / 4 + 13 = ?\nA:");

  @Override
  public Integer call() {
    Path dump = out != null ? out : Home.cache().resolve("demo/trees.jsonl");
    try (LoadedModel lm = LoadedModel.open(model.resolve());
        InferenceSession session = new InferenceSession(lm, 64L << 20)) {
      System.out.printf("model %s: %s, %,d parameters, device %s%n", lm.dir().getFileName(),
          lm.config().architecture().hfName(), lm.config().parameterCount(), lm.model().device());
      List<int[]> prompts = PROMPTS.stream().map(p -> lm.tokenizer().encode(p)).toList();
      TreeRolloutConfig cfg = new TreeRolloutConfig(segment, depth, 2, leaves, 2, segment * depth);
      var params = org.treeroll.engine.sampling.SamplingParams.defaults().withSeed(seed);
      long t0 = System.nanoTime();
      List<RolloutTree> trees = session.rollout(prompts, cfg, params, RolloutHooks.NONE);
      double sec = (System.nanoTime() - t0) / 1e9;

      // Independent sampling feeds the prompt once and every answer's tokens but its last.
      long independent = 0;
      for (RolloutTree t : trees) {
        independent += t.independentTokens() - t.leaves().size();
        Map<String, Integer> reasons = new TreeMap<>();
        for (SegmentNode l : t.leaves()) {
          reasons.merge(l.finishReason().name().toLowerCase(), 1, Integer::sum);
        }
        int maxDepth = t.leaves().stream().mapToInt(SegmentNode::depth).max().orElse(0);
        String first = lm.tokenizer().decode(RolloutTree.responseTokens(t.leaves().get(0)), true)
            .replace("\n", "\\n");
        System.out.printf("  %-24s %2d leaves, %2d nodes, depth %d, %s  e.g. %s%n",
            PROMPTS.get(t.id()).replace("\n", "\\n"), t.leaves().size(), t.nodes().size() - 1, maxDepth,
            reasons, first.length() > 28 ? first.substring(0, 28) + "..." : first);
      }
      System.out.printf("%d trees in %.2f s: %,d tokens computed; independent sampling of the same"
              + " answers: %,d (tree/independent = %.2f)%n",
          trees.size(), sec, session.rolloutStats().computedTokens(), independent,
          (double) session.rolloutStats().computedTokens() / independent);

      double maxDiff = 0;
      for (RolloutTree t : trees) {
        for (SegmentNode leaf : t.leaves()) {
          int[] p = t.prompt();
          int[] r = RolloutTree.responseTokens(leaf);
          int[] whole = Arrays.copyOf(p, p.length + r.length);
          System.arraycopy(r, 0, whole, p.length, r.length);
          Scorer.TokenScores s = session.score(List.of(whole), params.logprobTemperature()).get(0);
          float[] recorded = RolloutTree.responseLogProbs(leaf);
          for (int i = 0; i < recorded.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(recorded[i] - s.logProbs()[p.length - 1 + i]));
          }
        }
      }
      System.out.printf("every answer rescored alone, teacher-forced: max |tree - rescored| log-prob = %.1e%n", maxDiff);
      TreeDump.write(dump, new ArrayList<>(trees));
      System.out.println("tree dump: " + dump + " (format: docs/file-formats.md)");
    }
    return 0;
  }
}
