package org.treeroll.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.RewardedRollouts;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.export.Exporter;
import org.treeroll.export.VerlExporter;
import org.treeroll.reward.Reward;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.RewardFunctions;
import org.treeroll.reward.TreeRewards;
import org.treeroll.server.ChatTemplate;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.RunManifest;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Offline rollouts over a prompt dataset in verl's layout: trees with rewards and advantages,
 * written part by part (a tree dump and the trainer export per part of {@code --batch} prompts).
 * A rerun with the same settings skips the parts already written, so a killed run resumes.
 */
@Command(name = "rollout", mixinStandardHelpOptions = true,
    description = "Tree rollouts with rewards and advantages over a JSONL or Parquet prompt file (verl's layout).")
final class RolloutCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  @Mixin ModelOption model = new ModelOption();
  @Mixin WeightsOption weights = new WeightsOption();

  @Option(names = "--prompts", required = true,
      description = "JSONL or .parquet rows with prompt (chat messages or a string), data_source, reward_model.ground_truth")
  Path prompts;

  @Option(names = "--out", required = true, description = "Output directory (created; a rerun resumes it)")
  Path out;

  @Option(names = "--policy", defaultValue = "treepo", description = "Branching policy spec (default: ${DEFAULT-VALUE})")
  String policy;

  @Option(names = "--leaves", defaultValue = "16", description = "Answers per prompt (default: ${DEFAULT-VALUE})")
  int leaves;

  @Option(names = "--segment", defaultValue = "32", description = "Tokens per segment (default: ${DEFAULT-VALUE})")
  int segment;

  @Option(names = "--depth", defaultValue = "8", description = "Segments per answer at most (default: ${DEFAULT-VALUE})")
  int depth;

  @Option(names = "--reward", defaultValue = "math", description = "Reward function spec (default: ${DEFAULT-VALUE})")
  String reward;

  @Option(names = "--estimator", defaultValue = "treepo", description = "Advantage estimator spec (default: ${DEFAULT-VALUE})")
  String estimator;

  @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--seed", defaultValue = "0", description = "Sampling seed; row i's tree is seeded from (seed, i) (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--batch-invariant", description = "Batch-invariant, replayable decoding: the same trees, bit for bit,"
      + " whatever runs beside them and from run to run (slower; CPU, JDK 22+)")
  boolean batchInvariant;

  @Option(names = "--batch", defaultValue = "16", description = "Prompts per part (default: ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--fail-on-reward-errors",
      description = "Stop with an error when any answer of a part could not be scored; that part is not written,"
          + " so a rerun retries it")
  boolean failOnRewardErrors;

  @Mixin ChatOptions chatOptions = new ChatOptions();

  @Option(names = "--kv-budget-mb", defaultValue = "1024", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
  long kvBudgetMb;

  @Mixin KvDtypeOption kv = new KvDtypeOption();

  @Override
  public Integer call() {
    Cli.count("--leaves", leaves);
    Cli.count("--segment", segment);
    Cli.count("--depth", depth);
    Cli.count("--batch", batch);
    Cli.inRange("--temperature", temperature, 0, SamplingOptions.MAX_TEMPERATURE);
    long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
    TreeRolloutConfig cfg = new TreeRolloutConfig(segment, depth, Math.min(2, leaves), leaves, 2, segment * depth)
        .withPolicy(policy);
    var est = AdvantageEstimators.create(estimator);
    SamplingParams params = SamplingParams.defaults().withTemperature(temperature).withSeed(seed)
        .withBatchInvariant(batchInvariant);
    List<PromptDataset.Row> rows = PromptDataset.read(prompts);
    try (LoadedModel lm = LoadedModel.open(model.resolve(), weights.precision());
        InferenceSession session = new InferenceSession(lm, kvBytes, kv.kvDtype);
        RewardFunction fn = RewardFunctions.create(reward)) {
      Cli.answerFitsContext(segment, depth, lm.config(), lm.dir().getFileName().toString());
      AtomicFile.removeStale(out, List.of("part-", SETTINGS, RunManifest.FILE));
      String runId = checkSettings(lm, rows.size(), cfg, est.name());
      Function<PromptDataset.Row, String> render = promptRenderer(lm, chatOptions.options());
      int parts = (rows.size() + batch - 1) / batch;
      int done = 0;
      int skipped = 0;
      int rewardErrors = 0;
      System.out.printf("%d prompts from %s in %d parts of %d; %d answers each; policy %s, reward %s, estimator %s%n",
          rows.size(), prompts, parts, batch, leaves, cfg.policy(), fn.name(), est.name());
      try (ProgressBar bar = new ProgressBarBuilder().setTaskName("answers").setInitialMax((long) rows.size() * leaves)
          .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate().build()) {
        for (int part = 0; part < parts; part++) {
          List<PromptDataset.Row> slice = rows.subList(part * batch, Math.min(rows.size(), (part + 1) * batch));
          if (written(part)) {
            skipped++;
            bar.stepBy((long) slice.size() * leaves);
            continue;
          }
          List<TreeRewards.Problem> problems = slice.stream()
              .map(r -> new TreeRewards.Problem(render.apply(r), r.groundTruth())).toList();
          // A rendered chat template carries its own special tokens; a plain text gets the tokenizer's.
          List<int[]> ids = java.util.stream.IntStream.range(0, slice.size()).mapToObj(i -> slice.get(i).text() != null
              ? lm.tokenizer().encodePrompt(problems.get(i).prompt()) : lm.tokenizer().encode(problems.get(i).prompt()))
              .toList();
          RewardedRollouts.Result r = new RewardedRollouts(session, fn, est).start(ids, slice.get(0).index(), problems,
              cfg, params, new RewardedRollouts.Listener() {
                @Override
                public void answerScored(RolloutTree tree, SegmentNode leaf, Reward reward) {
                  bar.step();
                }
              }).join();
          rewardErrors += r.rewards().errors();
          Cli.failOnRewardErrors(failOnRewardErrors, r.rewards(), "of part " + part);
          writePart(part, r, lm.tokenizer().padId());
          done++;
          bar.setExtraMessage(String.format("mean reward %.3f, %d reward errors", r.rewards().meanReward(), rewardErrors));
        }
      }
      writeManifest(runId, parts, session.stats().join().weightVersion());
      System.out.printf("wrote %d parts to %s (%d already there), %d reward errors in them; trees in part-*.trees.jsonl"
          + " (docs/file-formats.md), trainer rows in part-*.train.jsonl and .parquet, padded verl tensors in part-*.verl.parquet (docs/export.md)%n",
          done, out, skipped, rewardErrors);
    }
    return 0;
  }

  /**
   * The prompt text: a string as it is; chat messages as the model's chat template renders them.
   */
  private static Function<PromptDataset.Row, String> promptRenderer(LoadedModel lm, ChatTemplate.Options rendering) {
    ChatTemplate chat = ChatTemplate.of(lm.tokenizer().special());
    return r -> {
      if (r.text() != null) {
        return r.text();
      }
      try {
        return chat.render(r.messages().stream().map(m -> new ChatTemplate.Message(m.role(), m.content(), null)).toList(),
            rendering);
      } catch (RuntimeException e) { // the template refused the conversation, or cannot render
        throw new TreeRollException("row " + r.index() + ": " + e.getMessage(), e);
      }
    };
  }

  private Path part(int part, String suffix) {
    return out.resolve(String.format("part-%05d.%s", part, suffix));
  }

  /** Whether a part is complete: its trainer export is written last. */
  private boolean written(int part) {
    return Files.isRegularFile(part(part, "train.parquet"));
  }

  /** The run's settings, written first; a rerun compares its own against them. */
  private static final String SETTINGS = RunManifest.SETTINGS;
  /** A part's files, the trainer's Parquet last (its presence marks the part done). */
  static final List<String> PART_FILES = List.of("trees.jsonl", "train.jsonl", "verl.parquet", "train.parquet");

  private void writePart(int part, RewardedRollouts.Result r, int padId) {
    TreeDump.write(part(part, "trees.jsonl"), r.trees());
    Exporter.forFormat("jsonl").write(part(part, "train.jsonl"), r.advantages());
    new VerlExporter(padId).write(part(part, "verl.parquet"), r.advantages());
    Exporter.forFormat("parquet").write(part(part, "train.parquet"), r.advantages());
  }

  /**
   * The completion manifest, once every part is there: run.json and each part's files.
   * A run killed before this point has run.json and no manifest.json, which readers report.
   */
  private void writeManifest(String runId, int parts, long weightVersion) {
    List<String> names = new java.util.ArrayList<>(List.of(SETTINGS));
    for (int p = 0; p < parts; p++) {
      for (String suffix : PART_FILES) {
        names.add(part(p, suffix).getFileName().toString());
      }
    }
    RunManifest.of(out, runId, seed, weightVersion, names).write(out);
  }

  /**
   * Writes the run's settings (and a new run id) on the first run; a rerun must have the same
   * ones, or its parts would not belong together. Returns the run id.
   */
  private String checkSettings(LoadedModel lm, int rows, TreeRolloutConfig cfg, String est) {
    ObjectNode m = JSON.createObjectNode();
    m.put("prompts", prompts.toAbsolutePath().normalize().toString());
    m.put("rows", rows);
    m.put("model", lm.dir().toAbsolutePath().normalize().toString());
    m.put("batch", batch);
    m.put("leaves", leaves);
    m.put("segment", segment);
    m.put("depth", depth);
    m.put("policy", cfg.policy());
    m.put("reward", reward);
    m.put("estimator", est);
    m.put("temperature", temperature);
    m.put("seed", seed);
    if (batchInvariant) { // only when on: settings written before the option still match
      m.put("batch_invariant", true);
    }
    kv.addSetting(m);
    weights.addSetting(m);
    Path file = out.resolve(SETTINGS);
    try {
      Files.createDirectories(out);
      if (Files.isRegularFile(file)) {
        JsonNode before = JSON.readTree(file.toFile());
        for (var it = m.fields(); it.hasNext(); ) {
          var f = it.next();
          JsonNode was = before.get(f.getKey());
          if (was == null || !f.getValue().asText().equals(was.asText())) {
            throw new TreeRollException(out + " holds a run with " + f.getKey() + " = " + was
                + ", not " + f.getValue() + "; use another --out or the same settings to resume it");
          }
        }
        return before.path("run_id").asText();
      } else {
        String runId = RunManifest.newRunId();
        m.put("run_id", runId);
        AtomicFile.write(file, tmp -> Files.writeString(tmp, JSON.writeValueAsString(m)));
        return runId;
      }
    } catch (IOException e) {
      throw new TreeRollException(file + ": " + e.getMessage(), e);
    }
  }

}
