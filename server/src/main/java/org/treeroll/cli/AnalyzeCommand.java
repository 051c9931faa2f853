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
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.RunManifest;
import org.treeroll.tree.TreeDump;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Offline look at tree dumps: shape, finish reasons, rewards, token savings, advantages. */
@Command(name = "analyze", mixinStandardHelpOptions = true,
    description = "Summarize tree dumps: depths, branch points per policy, finish reasons, rewards by depth,"
        + " tokens saved, and optionally the advantages an estimator would give.")
final class AnalyzeCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", paramLabel = "DUMP", description = "Tree dumps (treeroll.tree JSON lines)")
  List<Path> dumps;

  @Option(names = "--estimator", paramLabel = "NAME",
      description = "Recompute advantages with this estimator, e.g. grpo, treepo:whiten=false, spo, rose:lambda=0.5")
  String estimator;

  @Option(names = "--json", description = "Print the report as JSON")
  boolean json;

  @Override
  public Integer call() {
    // Build the estimator first: a bad name fails before any dump is read.
    AdvantageEstimator e = estimator == null ? null : AdvantageEstimators.create(estimator);
    List<RolloutTree> trees = new ArrayList<>();
    for (Path d : dumps) {
      checkRun(d);
      trees.addAll(TreeDump.read(d));
    }
    DumpReport report = DumpReport.of(trees, e);
    System.out.print(json ? toJson(report) : toText(report, dumps.size()));
    System.out.flush();
    return 0;
  }

  /**
   * A dump written by {@code demo} or {@code rollout} sits next to its run's manifest.json; the
   * dump is read only when the manifest lists it and every file of the run matches. A folder
   * without one is read as it is (a dump from elsewhere), except one with run.json, which every run
   * writes first: a run started there and did not finish.
   */
  static void checkRun(Path dump) {
    Path dir = dump.toAbsolutePath().getParent();
    String name = dump.getFileName().toString();
    var manifest = RunManifest.read(dir);
    if (manifest.isEmpty()) {
      if (Files.isRegularFile(dir.resolve(RunManifest.SETTINGS))) {
        throw new TreeRollException("incomplete run: " + dir + " has " + RunManifest.SETTINGS + " but no "
            + RunManifest.FILE + ": the run did not finish (rerun it)");
      }
      return;
    }
    RunManifest m = manifest.get();
    if (!m.lists(name)) {
      throw new TreeRollException("incomplete run: " + dump + " is not in " + dir.resolve(RunManifest.FILE)
          + " (run " + m.runId() + "): it belongs to another run, or to one that did not finish");
    }
    String started = RunManifest.startedRun(dir).orElse(m.runId());
    if (!started.equals(m.runId())) {
      throw new TreeRollException("incomplete run: " + dir + " holds files of two runs: " + RunManifest.SETTINGS
          + " is of run " + started + ", " + RunManifest.FILE + " of run " + m.runId()
          + ": the later run did not finish (rerun it)");
    }
    List<String> problems = m.problems(dir);
    if (!problems.isEmpty()) {
      throw new TreeRollException("incomplete run: " + dir + " does not match its " + RunManifest.FILE + " (run "
          + m.runId() + "): " + String.join("; ", problems)
          + " (a run was interrupted or another one wrote into the folder)");
    }
  }

  static String toJson(DumpReport r) {
    ObjectMapper m = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
    ObjectNode o = m.valueToTree(r);
    // Derived values are methods, not record components: add them so JSON readers need not recompute.
    ((ObjectNode) o.get("tokens")).put("ratio", r.tokens().ratio());
    for (int i = 0; i < r.byPolicy().size(); i++) {
      ((ObjectNode) o.get("by_policy").get(i)).put("branch_points_per_tree", r.byPolicy().get(i).branchPointsPerTree());
    }
    for (JsonNode row : o.get("by_finish_reason")) {
      JsonNode reason = row.get("reason");
      ((ObjectNode) row).put("reason", reason.isNull() ? "unfinished" : reason.asText().toLowerCase(Locale.ROOT));
    }
    try {
      return m.writerWithDefaultPrettyPrinter().writeValueAsString(o) + System.lineSeparator();
    } catch (JsonProcessingException ex) {
      throw new IllegalStateException(ex);
    }
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
    b.append(String.format("tokens: %,d decoded by the trees, %,d for independent sampling (ratio %.3f)%n",
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

  private static String number(Double v) {
    return v == null ? "-" : String.format("%.4f", v);
  }
}
