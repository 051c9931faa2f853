package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.treeroll.tree.TreeDump;

/**
 * A dump re-exported by {@code analyze} with an estimator is the export the demo wrote at
 * sampling time with that estimator, byte for byte, in every format.
 */
@Timeout(120)
class AnalyzeReexportTest {
  @TempDir Path tmp;

  private Path sample(String estimator) {
    Path out = tmp.resolve("demo-" + estimator);
    CliRun r = CliRun.of("demo", "--model", RolloutCommandTest.MODEL, "--problems", "3", "--leaves", "4", "--seed", "5",
        "--estimator", estimator, "--out", out.toString());
    assertThat(r.code()).as(r.err()).isZero();
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"grpo", "treepo", "spo", "rose"})
  void reexportEqualsTheExportMadeAtSamplingTime(String estimator) throws Exception {
    Path demo = sample(estimator);
    Path dump = demo.resolve("trees.jsonl");
    for (String[] f : List.of(new String[] {"train.jsonl", "jsonl"}, new String[] {"train.parquet", "parquet"},
        new String[] {"verl.parquet", "verl"})) {
      Path again = tmp.resolve("again-" + f[0]);
      CliRun r = CliRun.of("analyze", dump.toString(), "--model", RolloutCommandTest.MODEL, "--estimator", estimator,
          "--export", again.toString(), "--format", f[1]);
      assertThat(r.code()).as(r.err()).isZero();
      assertThat(r.out()).contains("wrote " + again);
      assertThat(Files.readAllBytes(again)).as("%s re-exported with %s", f[0], estimator)
          .isEqualTo(Files.readAllBytes(demo.resolve(f[0])));
    }
  }

  @Test
  void scoredAgainWithTheSameRewardTheExportIsTheSame() throws Exception {
    Path demo = sample("treepo");
    Path dump = demo.resolve("trees.jsonl");
    assertThat(TreeDump.read(dump)).allSatisfy(t -> assertThat(t.reference()).isNotBlank());
    Path again = tmp.resolve("again.jsonl");
    CliRun r = CliRun.of("analyze", dump.toString(), "--model", RolloutCommandTest.MODEL, "--reward", "math",
        "--estimator", "treepo", "--export", again.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("scored again with math (DUMP): 12 answers scored, 0 reward errors");
    assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(demo.resolve("train.jsonl")));

    // A regex that never matches: every answer is scored again, all 0 (a reward, not an error).
    CliRun regex = CliRun.of("analyze", dump.toString(), "--model", RolloutCommandTest.MODEL, "--reward",
        "regex:pattern=NEVER(\\d+)", "--json");
    assertThat(regex.code()).as(regex.err()).isZero();
    assertThat(regex.out()).contains("\"mean\" : 0.0");
  }
}
