package org.treeroll.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.treeroll.advantage.AdvantageEstimator;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.advantage.DumpReport;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.export.Exporter;
import org.treeroll.export.VerlExporter;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.RewardFunctions;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.RunManifest;
import org.treeroll.tree.TreeDump;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Offline look at tree dumps: shape, finish reasons, rewards, token savings, advantages; the same
 * trees scored again with another reward, exported with another estimator, compared with other
 * dumps, and drawn as SVG plots.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true,
    description = "Summarize tree dumps: depths, branch points per policy, finish reasons, rewards by depth,"
        + " tokens saved, and optionally the advantages an estimator would give; score them again with another"
        + " reward, export them with another estimator, compare them with other dumps, plot them.")
final class AnalyzeCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", paramLabel = "DUMP", description = "Tree dumps (treeroll.tree JSON lines)")
  List<Path> dumps;

  @Option(names = "--estimator", paramLabel = "NAME",
      description = "Recompute advantages with this estimator, e.g. grpo, treepo:whiten=false, spo, rose:lambda=0.5")
  String estimator;

  @Option(names = "--reward", paramLabel = "SPEC",
      description = "Score every answer again with this reward function (e.g. math, exact, regex:pattern=...)"
          + " against the reference answer the dump holds; needs the model's tokenizer (--model)")
  String reward;

  @Option(names = "--export", paramLabel = "FILE",
      description = "Write the trainer export of the dumps with --estimator's advantages (docs/export.md)")
  Path export;

  @Option(names = "--format", paramLabel = "FORMAT",
      description = "Format of --export: jsonl, parquet or verl (padded tensors; pad id from --model's tokenizer);"
          + " default: jsonl for a .jsonl file, else parquet")
  String format;

  @Option(names = "--compare", arity = "1..*", paramLabel = "DUMP",
      description = "Other dumps to set beside DUMP: accuracy, tokens, forks, depth, weight versions")
  List<Path> compare;

  @Option(names = "--plots", paramLabel = "DIR",
      description = "Write SVG plots into DIR: reward by depth, tokens saved per tree, branch points by depth")
  Path plots;

  @Option(names = "--json", description = "Print the report as JSON")
  boolean json;

  @Mixin ModelOption model = new ModelOption();

  @Override
  public Integer call() {
    // Build everything named on the command line first: a bad spec fails before any dump is read.
    AdvantageEstimator e = estimator == null ? null : AdvantageEstimators.create(estimator);
    String exportFormat = exportFormat();
    if (export != null && e == null) {
      throw new TreeRollException("--export needs --estimator: the advantages to write");
    }
    if (format != null && export == null) {
      throw new TreeRollException("--format needs --export: the file to write");
    }
    boolean needsTokenizer = reward != null || "verl".equals(exportFormat);
    try (RewardFunction fn = reward == null ? null : RewardFunctions.create(reward);
        TextTokenizer tok = needsTokenizer ? TextTokenizer.load(model.resolve()) : null) {
      List<RolloutTree> trees = read(dumps);
      List<RolloutTree> others = compare == null ? null : read(compare);
      StringBuilder out = new StringBuilder();
      if (fn != null) {
        out.append(rescore(trees, fn, tok, "DUMP"));
        if (others != null) {
          out.append(rescore(others, fn, tok, "--compare"));
        }
      }
      DumpReport report = DumpReport.of(trees, e);
      DumpReport other = others == null ? null : DumpReport.of(others, e);
      if (json) {
        out.setLength(0); // JSON alone on stdout
        out.append(other == null ? toJson(report) : toJson(report, other));
      } else {
        out.append(other == null ? toText(report, dumps.size()) : compareText(report, other));
      }
      if (export != null) {
        Exporter x = "verl".equals(exportFormat) ? new VerlExporter(tok.padId()) : Exporter.forFormat(exportFormat);
        x.write(export, e.estimate(trees));
        if (!json) {
          out.append(String.format("wrote %s (%s, %s)%n", export, exportFormat, e.name()));
        }
      }
      if (plots != null) {
        List<Path> written = AnalyzePlots.write(plots, trees, others);
        if (!json) {
          out.append(String.format("wrote %s%n", String.join(", ", written.stream().map(Path::toString).toList())));
        }
      }
      System.out.print(out);
      System.out.flush();
    }
    return 0;
  }

  private String exportFormat() {
    if (format == null) {
      return export != null && export.getFileName().toString().endsWith(".jsonl") ? "jsonl" : "parquet";
    }
    String f = format.strip().toLowerCase(Locale.ROOT);
    if (!List.of("jsonl", "parquet", "verl").contains(f)) {
      throw new TreeRollException("--format '" + format + "' is unknown; valid: jsonl, parquet, verl");
    }
    return f;
  }

  private static List<RolloutTree> read(List<Path> files) {
    List<RolloutTree> trees = new ArrayList<>();
    for (Path d : files) {
      checkRun(d);
      trees.addAll(TreeDump.read(d));
    }
    return trees;
  }

  /**
   * Scores every answer again against the reference its tree holds, replacing the dump's verdicts;
   * the response text is decoded as at sampling time.
   */
  private static String rescore(List<RolloutTree> trees, RewardFunction fn, TextTokenizer tok, String which) {
    List<String> prompts = new ArrayList<>();
    List<String> references = new ArrayList<>();
    for (RolloutTree t : trees) {
      if (t.reference() == null) {
        throw new TreeRollException(which + ": tree " + t.id() + " (weight version " + t.weightVersion()
            + ") has no reference answer to score against (its dump has no 'reference' field)");
      }
      prompts.add(tok.decode(t.prompt(), false));
      references.add(t.reference());
    }
    TreeRewards.Summary s = new TreeRewards(fn).scoreAll(trees, ids -> tok.decode(ids, true), prompts, references).join();
    return String.format("scored again with %s (%s): %d answers scored, %d reward errors%s%n", fn.name(), which,
        s.scored(), s.errors(), s.firstError() == null ? "" : " (first: " + s.firstError() + ")");
  }

  /**
   * A dump written by {@code demo} or {@code rollout} sits next to its run's manifest.json; the
   * dump is read only when the manifest lists it and every file of the run matches. A folder
   * without one is read as it is (a dump from elsewhere), except a rollout's, which has run.json.
   */
  static void checkRun(Path dump) {
    Path dir = dump.toAbsolutePath().getParent();
    String name = dump.getFileName().toString();
    var manifest = RunManifest.read(dir);
    if (manifest.isEmpty()) {
      if (Files.isRegularFile(dir.resolve(RolloutCommand.SETTINGS))) {
        throw new TreeRollException("incomplete run: " + dir + " has " + RolloutCommand.SETTINGS + " but no "
            + RunManifest.FILE + ": the rollout did not finish (rerun it to resume)");
      }
      return;
    }
    RunManifest m = manifest.get();
    if (!m.lists(name)) {
      throw new TreeRollException("incomplete run: " + dump + " is not in " + dir.resolve(RunManifest.FILE)
          + " (run " + m.runId() + "): it belongs to another run, or to one that did not finish");
    }
    List<String> problems = m.problems(dir);
    if (!problems.isEmpty()) {
      throw new TreeRollException("incomplete run: " + dir + " does not match its " + RunManifest.FILE + " (run "
          + m.runId() + "): " + String.join("; ", problems)
          + " (a run was interrupted or another one wrote into the folder)");
    }
  }

  private static final ObjectMapper JSON =
      new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

  static String toJson(DumpReport r) {
    return print(jsonOf(r));
  }

  /** Two reports side by side: {"dumps": ..., "compare": ...}. */
  static String toJson(DumpReport r, DumpReport other) {
    ObjectNode o = JSON.createObjectNode();
    o.set("dumps", jsonOf(r));
    o.set("compare", jsonOf(other));
    return print(o);
  }

  private static String print(JsonNode o) {
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o) + System.lineSeparator();
    } catch (JsonProcessingException ex) {
      throw new IllegalStateException(ex);
    }
  }

  private static ObjectNode jsonOf(DumpReport r) {
    ObjectNode o = JSON.valueToTree(r);
    // Derived values are methods, not record components: add them so JSON readers need not recompute.
    ((ObjectNode) o.get("tokens")).put("ratio", r.tokens().ratio());
    for (int i = 0; i < r.byPolicy().size(); i++) {
      ((ObjectNode) o.get("by_policy").get(i)).put("branch_points_per_tree", r.byPolicy().get(i).branchPointsPerTree());
    }
    for (JsonNode row : o.get("by_finish_reason")) {
      JsonNode reason = row.get("reason");
      ((ObjectNode) row).put("reason", reason.isNull() ? "unfinished" : reason.asText().toLowerCase(Locale.ROOT));
    }
    o.put("branch_points", r.branchPoints());
    o.put("mean_leaf_depth", r.meanLeafDepth());
    return o;
  }

  static String toText(DumpReport r, int files) {
    StringBuilder b = new StringBuilder();
    b.append(String.format("%d trees, %d leaves (from %d dump%s)%n", r.trees(), r.leaves(), files, files == 1 ? "" : "s"));
    b.append(String.format("leaves by depth:%n  %5s %7s %7s %12s%n", "depth", "leaves", "scored", "mean reward"));
    for (DumpReport.DepthRow d : r.byDepth()) {
      b.append(String.format("  %5d %7d %7d %12s%n", d.depth(), d.leaves(), d.scored(), number(d.meanReward())));
    }
    b.append(String.format("branch points by policy:%n"));
    for (DumpReport.PolicyRow p : r.byPolicy()) {
      b.append(String.format("  %-28s %5d trees %7d branch points (%.2f per tree)%n", p.policy(), p.trees(),
          p.branchPoints(), p.branchPointsPerTree()));
    }
    List<String> reasons = new ArrayList<>();
    for (DumpReport.ReasonRow row : r.byFinishReason()) {
      if (row.leaves() > 0) {
        String name = row.reason() == null ? "unfinished" : row.reason().name().toLowerCase(Locale.ROOT);
        reasons.add(name + " " + row.leaves());
      }
    }
    b.append(String.format("leaves by finish reason: %s%n", reasons.isEmpty() ? "none" : String.join(", ", reasons)));
    DumpReport.RewardSummary rw = r.rewards();
    b.append(String.format("rewards: %d scored, %d failed, %d unscored; mean %s%n", rw.scored(), rw.failed(),
        rw.unscored(), number(rw.mean())));
    DumpReport.TokenSummary t = r.tokens();
    b.append(String.format("tokens: %,d distinct tree tokens (each node once, prompts included), %,d for independent"
        + " sampling of the same answers (distinct tree tokens / independent = %.3f)%n",
        t.distinct(), t.independent(), t.ratio()));
    DumpReport.AdvantageSummary a = r.advantages();
    if (a != null) {
      b.append(String.format("advantages (%s): %d of %d answers (%d skipped), %,d tokens%n", a.estimator(),
          a.included(), a.paths(), a.skipped(), a.tokens()));
      b.append(String.format("  mean %s, std %s, min %s, max %s, positive %.1f%%%n", number(a.mean()),
          number(a.std()), number(a.min()), number(a.max()), 100 * a.positive()));
    }
    return b.toString();
  }

  /** Two reports side by side, one measure a line. */
  static String compareText(DumpReport a, DumpReport b) {
    StringBuilder s = new StringBuilder(String.format("%-40s %18s %18s%n", "", "DUMP", "--compare"));
    row(s, "trees", a.trees(), b.trees());
    row(s, "answers (leaves)", a.leaves(), b.leaves());
    row(s, "accuracy (mean reward of scored answers)", number(a.rewards().mean()), number(b.rewards().mean()));
    row(s, "answers scored / reward errors", a.rewards().scored() + " / " + a.rewards().failed(),
        b.rewards().scored() + " / " + b.rewards().failed());
    row(s, "distinct tree tokens (prompts included)", a.tokens().distinct(), b.tokens().distinct());
    row(s, "independent-sampling tokens", a.tokens().independent(), b.tokens().independent());
    row(s, "distinct tree / independent tokens", String.format("%.3f", a.tokens().ratio()),
        String.format("%.3f", b.tokens().ratio()));
    row(s, "forks (branch points)", a.branchPoints(), b.branchPoints());
    row(s, "forks per tree", perTree(a), perTree(b));
    row(s, "mean answer depth (segments)", String.format("%.2f", a.meanLeafDepth()),
        String.format("%.2f", b.meanLeafDepth()));
    row(s, "deepest answer", maxDepth(a), maxDepth(b));
    row(s, "weight versions", versions(a), versions(b));
    row(s, "policies", policies(a), policies(b));
    if (a.advantages() != null) {
      row(s, "advantages: mean / std", number(a.advantages().mean()) + " / " + number(a.advantages().std()),
          number(b.advantages().mean()) + " / " + number(b.advantages().std()));
    }
    return s.toString();
  }

  private static void row(StringBuilder s, String name, Object a, Object b) {
    String fa = a instanceof Number n && !(a instanceof Double) ? String.format("%,d", n.longValue()) : a.toString();
    String fb = b instanceof Number n && !(b instanceof Double) ? String.format("%,d", n.longValue()) : b.toString();
    s.append(String.format("%-40s %18s %18s%n", name, fa, fb));
  }

  private static String perTree(DumpReport r) {
    return String.format("%.2f", r.trees() == 0 ? 0 : (double) r.branchPoints() / r.trees());
  }

  private static String maxDepth(DumpReport r) {
    return r.byDepth().isEmpty() ? "-" : Integer.toString(r.byDepth().getLast().depth());
  }

  private static String versions(DumpReport r) {
    return String.join(",", r.weightVersions().stream().map(String::valueOf).toList());
  }

  private static String policies(DumpReport r) {
    return String.join(",", r.byPolicy().stream().map(DumpReport.PolicyRow::policy).toList());
  }

  private static String number(Double v) {
    return v == null ? "-" : String.format("%.4f", v);
  }
}
