package org.treeroll.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.advantage.PathAdvantage;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.Rescored;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.RewardedRollouts;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.export.Exporter;
import org.treeroll.export.VerlExporter;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.RewardFunctions;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.RunManifest;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;
import org.treeroll.tree.TreeSvg;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The main job: tree rollouts of the bundled arithmetic model on held-out problems, every answer
 * verified, advantages computed, the log-probs checked against teacher-forced rescoring, and the
 * tree dump and trainer export written.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Tree rollouts with rewards and advantages on held-out arithmetic problems.")
final class DemoCommand implements Callable<Integer> {
  /** What a demo run writes, in order, listed in its manifest.json (written last). */
  static final List<String> FILES = List.of(RunManifest.SETTINGS, "trees.jsonl", "tree.svg", "train.jsonl",
      "train.parquet", "verl.parquet");
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @Mixin ModelOption model = new ModelOption();
  @Mixin WeightsOption weights = new WeightsOption();
  @Mixin KvDtypeOption kv = new KvDtypeOption();

  @Option(names = "--problems", defaultValue = "16", description = "Held-out problems (default: ${DEFAULT-VALUE})")
  int problems;

  @Option(names = "--leaves", defaultValue = "16", description = "Answers per problem, N (default: ${DEFAULT-VALUE})")
  int leaves;

  @Option(names = "--segment", defaultValue = "8", description = "Tokens per segment (default: ${DEFAULT-VALUE})")
  int segment;

  @Option(names = "--depth", defaultValue = "12", description = "Segments per answer at most (default: ${DEFAULT-VALUE})")
  int depth;

  @Option(names = "--policy", defaultValue = "treepo", description = "Branching policy spec (default: ${DEFAULT-VALUE})")
  String policy;

  @Option(names = "--reward", defaultValue = "math", description = "Reward function spec (default: ${DEFAULT-VALUE})")
  String reward;

  @Option(names = "--estimator", defaultValue = "treepo", description = "Advantage estimator spec (default: ${DEFAULT-VALUE})")
  String estimator;

  @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--seed", defaultValue = "0", description = "Seed of the problems and of sampling (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--batch-invariant", description = "Batch-invariant, replayable decoding: the same trees, bit for bit,"
      + " whatever runs beside them and from run to run (slower; CPU, JDK 22+)")
  boolean batchInvariant;

  @Option(names = "--out", description = "Output directory (default: .cache/demo)")
  Path out;

  @Option(names = "--fail-on-reward-errors",
      description = "Exit with an error, writing nothing, when any answer could not be scored")
  boolean failOnRewardErrors;

  @Override
  public Integer call() {
    Path dir = out != null ? out : Home.cache().resolve("demo");
    Cli.count("--problems", problems);
    Cli.count("--leaves", leaves);
    Cli.count("--segment", segment);
    Cli.count("--depth", depth);
    Cli.inRange("--temperature", temperature, 0, SamplingOptions.MAX_TEMPERATURE);
    AtomicFile.removeStale(dir, Stream.concat(FILES.stream(), Stream.of(RunManifest.FILE)).toList());
    TreeRolloutConfig cfg = new TreeRolloutConfig(segment, depth, 2, leaves, 2, segment * depth).withPolicy(policy);
    var est = AdvantageEstimators.create(estimator);
    List<ArithmeticTask.Problem> ps = ArithmeticTask.defaultMix().problems(ArithmeticTask.Split.HELD_OUT, seed, problems);
    List<TreeRewards.Problem> asked = ps.stream()
        .map(p -> new TreeRewards.Problem(p.prompt(), Long.toString(p.answer()))).toList();
    SamplingParams params = SamplingParams.defaults().withTemperature(temperature).withSeed(seed)
        .withBatchInvariant(batchInvariant);
    try (RewardFunction fn = RewardFunctions.create(reward);
        LoadedModel lm = LoadedModel.open(model.resolve(), weights.precision());
        InferenceSession session = new InferenceSession(lm, 256L << 20, kv.kvDtype)) {
      Cli.answerFitsContext(segment, depth, lm.config(), lm.dir().getFileName().toString());
      System.out.printf("model %s: %s, %,d parameters, device %s%n", lm.dir().getFileName(),
          lm.config().architecture().hfName(), lm.config().parameterCount(), lm.model().device());
      System.out.printf("%d held-out problems x %d answers; segments of %d tokens, depth %d; policy %s,"
          + " reward %s, estimator %s%n", problems, leaves, segment, depth, policy, fn.name(), est.name());
      RewardedRollouts.Result r;
      try (ProgressBar bar = new ProgressBarBuilder().setTaskName("answers").setInitialMax((long) problems * leaves)
          .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200).continuousUpdate().build()) {
        r = new RewardedRollouts(session, fn, est).run(asked, cfg, params, bar::stepTo);
      }
      printTrees(lm, r, ps);
      printSummary(r);
      Cli.failOnRewardErrors(failOnRewardErrors, r.rewards(), "of the demo");
      RolloutTree shown = mostMixed(r.trees());
      printAdvantages(lm, r, shown, ps.get(shown.id()));
      System.out.printf("every answer rescored alone, teacher-forced: max |tree - rescored| log-prob = %.1e%n",
          Rescored.of(session, r.trees(), params.logprobTemperature()).maxAbs());
      String runId = RunManifest.newRunId();
      writeSettings(dir, runId, lm, fn.name(), est.name());
      Path dump = dir.resolve("trees.jsonl");
      TreeDump.write(dump, r.trees());
      Path picture = dir.resolve("tree.svg");
      ArithmeticTask.Problem p = ps.get(shown.id());
      TreeSvg.write(picture, shown, n -> lm.tokenizer().decode(n.tokens(), true),
          "TreeRoll demo: " + p.prompt().strip() + " (answer " + p.answer() + "), " + shown.leaves().size()
              + " answers, policy " + shown.policy());
      Exporter.forFormat("jsonl").write(dir.resolve("train.jsonl"), r.advantages());
      Exporter.forFormat("parquet").write(dir.resolve("train.parquet"), r.advantages());
      new VerlExporter(lm.tokenizer().padId()).write(dir.resolve("verl.parquet"), r.advantages());
      // Last: a reader trusts the folder only when every file matches it.
      RunManifest.of(dir, runId, seed, shown.weightVersion(), FILES).write(dir);
      System.out.println("wrote " + dump + " (docs/file-formats.md), " + dir.resolve("train.jsonl") + ", "
          + dir.resolve("train.parquet") + " and " + dir.resolve("verl.parquet") + " (docs/export.md), " + picture
          + " (that tree)");
    }
    return 0;
  }

  /**
   * The run's settings and id, before any other file: from here until the manifest names this run,
   * readers see a folder of two runs and call it incomplete.
   */
  private void writeSettings(Path dir, String runId, LoadedModel lm, String rewardName, String estimatorName) {
    ObjectNode m = JSON.createObjectNode();
    m.put("run_id", runId);
    m.put("command", "demo");
    m.put("model", lm.dir().toAbsolutePath().normalize().toString());
    m.put("problems", problems);
    m.put("leaves", leaves);
    m.put("segment", segment);
    m.put("depth", depth);
    m.put("policy", policy);
    m.put("reward", rewardName);
    m.put("estimator", estimatorName);
    m.put("temperature", temperature);
    m.put("seed", seed);
    if (batchInvariant) { // only when on: settings written before the option still match
      m.put("batch_invariant", true);
    }
    kv.addSetting(m);
    weights.addSetting(m);
    AtomicFile.write(dir.resolve(RunManifest.SETTINGS), tmp -> Files.writeString(tmp, JSON.writeValueAsString(m)));
  }

  private static void printTrees(LoadedModel lm, RewardedRollouts.Result r, List<ArithmeticTask.Problem> ps) {
    for (RolloutTree t : r.trees()) {
      List<SegmentNode> ls = t.leaves();
      long right = ls.stream().filter(l -> l.hasReward() && l.reward() > 0).count();
      int deepest = ls.stream().mapToInt(SegmentNode::depth).max().orElse(0);
      String prompt = ps.get(t.id()).prompt().strip();
      String first = lm.tokenizer().decode(RolloutTree.responseTokens(ls.get(0)), true).strip().replace("\n", " | ");
      System.out.printf("  %-22s answer %-6d %2d/%2d right, %2d nodes, depth %d   e.g. %s%n", prompt,
          ps.get(t.id()).answer(), right, ls.size(), t.nodes().size() - 1, deepest,
          first.length() > 48 ? first.substring(0, 48) + "..." : first);
    }
  }

  private static void printSummary(RewardedRollouts.Result r) {
    Map<String, Integer> reasons = new TreeMap<>();
    Map<Integer, Integer> depths = new TreeMap<>();
    for (RolloutTree t : r.trees()) {
      for (SegmentNode l : t.leaves()) {
        reasons.merge(l.finishReason().name().toLowerCase(Locale.ROOT), 1, Integer::sum);
        depths.merge(l.depth(), 1, Integer::sum);
      }
    }
    String accuracy = r.rewards().scored() == 0 ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * r.rewards().meanReward());
    System.out.printf("accuracy %s (mean reward over %d answers, %d reward errors); leaves by depth %s;"
            + " ended by %s%n", accuracy, r.rewards().scored(), r.rewards().errors(), depths, reasons);
    System.out.printf("%.1f s: %,d tokens computed (refill recomputation included); independent sampling of the"
            + " same answers would compute %,d (tokens computed / independent = %.2f); %,d prefix-cache hit tokens,"
            + " %d refills%n", r.seconds(),
        r.stats().computedTokens(), r.independentTokens(),
        (double) r.stats().computedTokens() / r.independentTokens(), r.stats().cacheHitTokens(), r.stats().refills());
  }

  /** The tree whose answers disagree most: mean reward closest to one half. */
  private static RolloutTree mostMixed(List<RolloutTree> trees) {
    return trees.stream().min(java.util.Comparator.comparingDouble(t -> Math.abs(0.5
        - t.leaves().stream().filter(SegmentNode::hasReward).mapToDouble(SegmentNode::reward).average().orElse(0))))
        .orElseThrow();
  }

  /** Each distinct answer of one tree once, with its count, reward and segment advantages. */
  private static void printAdvantages(LoadedModel lm, RewardedRollouts.Result r, RolloutTree tree,
      ArithmeticTask.Problem problem) {
    System.out.printf("advantages (%s) of the answers to %s (answer %d):%n", r.advantages().estimator(),
        problem.prompt().strip(), problem.answer());
    Map<String, Integer> seen = new java.util.LinkedHashMap<>();
    for (PathAdvantage p : r.advantages().paths()) {
      if (p.tree() != tree) {
        continue;
      }
      String text = lm.tokenizer().decode(RolloutTree.responseTokens(p.leaf()), true).strip().replace("\n", " | ");
      String segs = Arrays.stream(p.segmentAdvantages()).mapToObj(a -> String.format(Locale.ROOT, "%+.2f", a))
          .reduce((a, b) -> a + " " + b).orElse("");
      String reward = p.leaf().hasReward() ? String.format(Locale.ROOT, "%.0f", p.leaf().reward()) : "error";
      seen.merge(String.format("  reward %s  segments [%s]  %s", reward, segs, text), 1, Integer::sum);
    }
    seen.forEach((line, n) -> System.out.println(line + (n > 1 ? "   (x" + n + ")" : "")));
  }
}
