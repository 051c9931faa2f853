package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.RunManifest;

/** Output folders end with a manifest.json; analyze reads a folder only when it matches. */
@Timeout(120)
class RunManifestCliTest {
  static final String MODEL = RolloutCommandTest.MODEL;
  @TempDir Path tmp;

  private static CliRun demo(Path out) {
    return CliRun.of("demo", "--model", MODEL, "--problems", "1", "--leaves", "2", "--seed", "7",
        "--out", out.toString());
  }

  @Test
  void demoWritesAManifestLastAndAnalyzeChecksIt() throws Exception {
    Path out = tmp.resolve("demo");
    Files.createDirectories(out);
    Path stale = Files.writeString(out.resolve("trees.jsonl4711.tmp"), "half a file");
    Path users = Files.writeString(out.resolve("notes.tmp"), "not ours");
    CliRun r = demo(out);
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(stale).doesNotExist();
    assertThat(users).exists();

    RunManifest m = RunManifest.read(out).orElseThrow();
    assertThat(m.files()).extracting(RunManifest.Entry::name)
        .containsExactlyElementsOf(DemoCommand.FILES);
    assertThat(UUID.fromString(m.runId())).isNotNull();
    assertThat(m.seed()).isEqualTo(7);
    assertThat(m.problems(out)).isEmpty();
    for (RunManifest.Entry e : m.files()) {
      assertThat(Files.size(out.resolve(e.name()))).isEqualTo(e.size());
      assertThat(e.sha256()).hasSize(64);
    }
    Path trees = out.resolve("trees.jsonl");
    assertThat(CliRun.of("analyze", trees.toString()).code()).isZero();

    // Another run wrote one file (here: a byte more) and was killed before its manifest.
    Files.writeString(out.resolve("train.jsonl"), "\n", StandardOpenOption.APPEND);
    CliRun.of("analyze", trees.toString()).assertOneLineError("incomplete run", "train.jsonl", m.runId(), "bytes");
    Files.delete(out.resolve("tree.svg"));
    CliRun.of("analyze", trees.toString()).assertOneLineError("incomplete run", "tree.svg is missing");

    Path foreign = out.resolve("other.jsonl");
    Files.copy(trees, foreign);
    CliRun.of("analyze", foreign.toString()).assertOneLineError("incomplete run", "other.jsonl",
        "belongs to another run");

    // A later run wrote its run.json first and was killed before its manifest.
    Path settings = out.resolve("run.json");
    Files.writeString(settings, Files.readString(settings).replace(m.runId(), "a-later-run"));
    CliRun.of("analyze", trees.toString()).assertOneLineError("incomplete run", "two runs", "a-later-run",
        m.runId());

    // A complete rerun makes the folder whole again, under a new run id.
    assertThat(demo(out).code()).isZero();
    RunManifest again = RunManifest.read(out).orElseThrow();
    assertThat(again.runId()).isNotEqualTo(m.runId());
    assertThat(CliRun.of("analyze", trees.toString()).code()).isZero();
  }

  @Test
  void aRunWithBf16WeightsSaysSoInItsSettings() throws Exception {
    Path out = tmp.resolve("bf16");
    CliRun r = CliRun.of("demo", "--model", MODEL, "--problems", "1", "--leaves", "2", "--seed", "7",
        "--weights", "bf16", "--out", out.toString());
    assertThat(r.code()).as(r.err()).isZero();
    var settings = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("run.json").toFile());
    assertThat(settings.path("weights").asText()).isEqualTo("bf16");
  }

  @Test
  void rolloutWritesItsManifestWhenEveryPartIsThere() throws Exception {
    Path prompts = tmp.resolve("p.jsonl");
    Files.write(prompts, List.of("{\"prompt\": \"Q: 2+3=?\\n\", \"reward_model\": {\"ground_truth\": \"5\"}}",
        "{\"prompt\": \"Q: 4*2=?\\n\", \"reward_model\": {\"ground_truth\": \"8\"}}"));
    Path out = tmp.resolve("rollout");
    String[] args = {"rollout", "--model", MODEL, "--prompts", prompts.toString(), "--out", out.toString(),
        "--leaves", "2", "--segment", "8", "--depth", "12", "--batch", "1", "--seed", "3"};
    assertThat(CliRun.of(args).code()).isZero();
    RunManifest m = RunManifest.read(out).orElseThrow();
    assertThat(m.files()).extracting(RunManifest.Entry::name).containsExactly("run.json",
        "part-00000.trees.jsonl", "part-00000.train.jsonl", "part-00000.verl.parquet", "part-00000.train.parquet",
        "part-00001.trees.jsonl", "part-00001.train.jsonl", "part-00001.verl.parquet", "part-00001.train.parquet");
    assertThat(Files.readString(out.resolve("run.json"))).contains(m.runId());
    assertThat(m.seed()).isEqualTo(3);
    Path part = out.resolve("part-00001.trees.jsonl");
    assertThat(CliRun.of("analyze", part.toString()).code()).isZero();

    // Killed after its last part but before the manifest: readers say so; the rerun finishes it.
    Files.delete(out.resolve(RunManifest.FILE));
    Files.writeString(out.resolve("part-00001.train.parquet1234.tmp"), "partial");
    CliRun.of("analyze", part.toString()).assertOneLineError("incomplete run", "run.json", "did not finish");
    CliRun resumed = CliRun.of(args);
    assertThat(resumed.out()).contains("wrote 0 parts", "(2 already there)");
    assertThat(out.resolve("part-00001.train.parquet1234.tmp")).doesNotExist();
    assertThat(RunManifest.read(out).orElseThrow().runId()).isEqualTo(m.runId());
    assertThat(CliRun.of("analyze", part.toString()).code()).isZero();
  }
}
