package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;
import picocli.CommandLine;

class AnalyzeCommandTest {
  @TempDir static Path tmp;
  static Path first;
  static Path second;

  /**
   * first: tree 0 ("entropy", prompt 2 tokens): root -> n(2) -> {a(1)=1 answered, b(2)=0 repetition}.
   * second: tree 1 ("uniform", prompt 2): root -> c(3) failed, max_tokens.
   */
  @BeforeAll
  static void writeDumps() {
    RolloutTree t0 = new RolloutTree(0, new int[] {1, 2}, 0, 0, "entropy");
    SegmentNode n = t0.addChild(t0.root(), 1);
    n.append(10, -0.5f, 1f);
    n.append(11, -0.5f, 1f);
    SegmentNode a = t0.addChild(n, 2);
    a.append(12, -0.5f, 1f);
    a.finish(FinishReason.ANSWERED);
    a.setReward(1);
    SegmentNode b = t0.addChild(n, 3);
    b.append(13, -0.5f, 1f);
    b.append(14, -0.5f, 1f);
    b.finish(FinishReason.REPETITION);
    b.setReward(0);
    first = tmp.resolve("first.jsonl");
    TreeDump.write(first, List.of(t0));

    RolloutTree t1 = new RolloutTree(1, new int[] {1, 2}, 0, 0, "uniform");
    SegmentNode c = t1.addChild(t1.root(), 1);
    c.append(20, -0.5f, 1f);
    c.append(21, -0.5f, 1f);
    c.append(22, -0.5f, 1f);
    c.finish(FinishReason.MAX_TOKENS);
    c.setRewardError("no answer");
    second = tmp.resolve("second.jsonl");
    TreeDump.write(second, List.of(t1));
  }

  @Test
  void textReport() {
    CliRun r = CliRun.of("analyze", first.toString(), second.toString(), "--estimator", "grpo:std=false");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out())
        .contains("2 trees, 3 leaves (from 2 dumps)")
        .containsPattern("\\s2\\s+2\\s+2\\s+0\\.5000") // depth 2: a and b, mean (1 + 0) / 2
        .containsPattern("\\s1\\s+1\\s+0\\s+-") // depth 1: c, failed, no mean
        .containsPattern("entropy\\s+1 trees\\s+1 branch points")
        .containsPattern("uniform\\s+1 trees\\s+0 branch points")
        .contains("leaves by finish reason: max_tokens 1, repetition 1, answered 1")
        .contains("rewards: 2 scored, 1 failed, 0 unscored; mean 0.5000")
        // distinct 2+2+1+2 + 2+3 = 12; independent 2+3+4 + 2+3 = 14
        .contains("tokens: 12 distinct tree tokens (each node once, prompts included), 14 for independent sampling"
            + " of the same answers (distinct tree tokens / independent = 0.857)")
        // Dr.GRPO on tree 0: a +.5 (3 tokens), b -.5 (4 tokens); c skipped
        .contains("advantages (grpo:eps=1.0E-6,std=false): 2 of 3 answers (1 skipped), 7 tokens")
        .contains("min -0.5000, max 0.5000, positive 42.9%");
  }

  @Test
  void jsonReport() throws Exception {
    CliRun r = CliRun.of("analyze", first.toString(), "--json", "--estimator", "spo");
    assertThat(r.code()).as(r.err()).isZero();
    JsonNode o = new ObjectMapper().readTree(r.out());
    assertThat(o.get("trees").asInt()).isEqualTo(1);
    assertThat(o.get("leaves").asInt()).isEqualTo(2);
    assertThat(o.at("/by_depth/0/mean_reward").asDouble()).isEqualTo(0.5);
    assertThat(o.at("/by_policy/0/policy").asText()).isEqualTo("entropy");
    assertThat(o.at("/by_policy/0/branch_points_per_tree").asDouble()).isEqualTo(1.0);
    assertThat(o.at("/tokens/distinct").asLong()).isEqualTo(7);
    assertThat(o.at("/tokens/independent").asLong()).isEqualTo(9);
    assertThat(o.at("/tokens/ratio").asDouble()).isEqualTo(7.0 / 9);
    assertThat(o.at("/by_finish_reason").findValuesAsText("reason")).contains("answered", "unfinished");
    assertThat(o.at("/advantages/estimator").asText()).isEqualTo("spo");
    // SPO: n 0 (V(n) = V(root)), a +.5, b -.5: tokens 0,0,.5 and 0,0,-.5,-.5 -> min -.5, max .5
    assertThat(o.at("/advantages/min").asDouble()).isEqualTo(-0.5);
    assertThat(o.at("/advantages/max").asDouble()).isEqualTo(0.5);
    assertThat(o.at("/rewards/mean").asDouble()).isEqualTo(0.5);
  }

  @Test
  void withoutEstimatorThereIsNoAdvantageSection() {
    CliRun r = CliRun.of("analyze", first.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).doesNotContain("advantages");
  }

  @Test
  void missingDumpIsOneLine() {
    CliRun.of("analyze", tmp.resolve("nope.jsonl").toString()).assertOneLineError("nope.jsonl", "not found");
  }

  @Test
  void brokenDumpIsOneLine() throws Exception {
    Path bad = tmp.resolve("bad.jsonl");
    Files.writeString(bad, "{\"format\": \"something else\"}\n");
    CliRun.of("analyze", bad.toString()).assertOneLineError("bad.jsonl:1", "format");
  }

  @Test
  void unknownEstimatorListsTheValidOnes() {
    CliRun.of("analyze", first.toString(), "--estimator", "ppo").assertOneLineError("ppo", "grpo, rose, spo, treepo");
    CliRun.of("analyze", first.toString(), "--estimator", "rose:lambda=-2").assertOneLineError("lambda", ">= 0");
  }

  @Test
  void compareSetsTwoDumpsSideBySide() throws Exception {
    CliRun r = CliRun.of("analyze", first.toString(), "--compare", second.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out())
        .containsPattern("accuracy \\(mean reward of scored answers\\)\\s+0\\.5000\\s+-")
        .containsPattern("answers scored / reward errors\\s+2 / 0\\s+0 / 1")
        .containsPattern("distinct tree tokens \\(prompts included\\)\\s+7\\s+5")
        .containsPattern("forks \\(branch points\\)\\s+1\\s+0")
        .containsPattern("mean answer depth \\(segments\\)\\s+2\\.00\\s+1\\.00")
        .containsPattern("weight versions\\s+0\\s+0")
        .containsPattern("policies\\s+entropy\\s+uniform");
    JsonNode o = new ObjectMapper().readTree(CliRun.of("analyze", first.toString(), "--compare", second.toString(),
        "--json").out());
    assertThat(o.at("/dumps/branch_points").asInt()).isEqualTo(1);
    assertThat(o.at("/compare/rewards/failed").asInt()).isEqualTo(1);
    assertThat(o.at("/dumps/forks_by_depth/0/depth").asInt()).isEqualTo(1);
  }

  @Test
  void plotsAreWrittenAsSvg() throws Exception {
    Path dir = tmp.resolve("plots");
    CliRun r = CliRun.of("analyze", first.toString(), "--compare", second.toString(), "--plots", dir.toString());
    assertThat(r.code()).as(r.err()).isZero();
    String reward = Files.readString(dir.resolve("reward-by-depth.svg"));
    assertThat(reward).startsWith("<svg").contains("<title>answer depth (segments) 2: 0.500</title>")
        .contains("DUMP", "--compare");
    // first: 7 distinct of 9 independent tokens; second: nothing shared
    assertThat(Files.readString(dir.resolve("tokens-saved.svg"))).contains("<title>tree id 0: 0.222</title>")
        .contains("<title>tree id 1: 0.00</title>");
    assertThat(Files.readString(dir.resolve("forks-by-depth.svg")))
        .contains("<title>depth of the branch point (0 = the prompt) 1: 1.00</title>");
  }

  @Test
  void reexportAndRescoreMistakesAreOneLine() {
    CliRun.of("analyze", first.toString(), "--export", tmp.resolve("x.parquet").toString())
        .assertOneLineError("--export needs --estimator");
    CliRun.of("analyze", first.toString(), "--format", "verl").assertOneLineError("--format needs --export");
    CliRun.of("analyze", first.toString(), "--estimator", "spo", "--export", tmp.resolve("x.csv").toString(),
        "--format", "csv").assertOneLineError("--format 'csv'", "jsonl, parquet, verl");
    CliRun.of("analyze", first.toString(), "--reward", "math", "--model", RolloutCommandTest.MODEL)
        .assertOneLineError("tree 0", "no reference answer");
    CliRun.of("analyze", first.toString(), "--reward", "nope").assertOneLineError("nope", "math");
  }

  @Test
  void noDumpIsAUsageError() {
    CliRun r = CliRun.of("analyze");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err().strip()).startsWith("treeroll: error: ").contains("DUMP");
  }
}
