package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;


import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.engine.model.RandomModelWriter;
import picocli.CommandLine;

/** Bad input reaches the user as one clear line and a non-zero exit, never a stack trace. */
class CliErrorsTest {
  @TempDir static Path tmp;
  static Path good;

  @BeforeAll
  static void writeModel() {
    good = tmp.resolve("good");
    RandomModelWriter.write(good, ModelPreset.TINY_LLAMA, 1, DType.F32, tmp);
  }

  @Test
  void deviceIsChosenByNameBeforeOrAfterTheCommand() {
    CliRun bad = CliRun.of("score", "--device", "tpu", "--ids", "1,2");
    assertThat(bad.code()).isNotZero();
    assertThat(bad.err().strip()).startsWith("treeroll: error: ").contains("--device").contains("tpu")
        .doesNotContain("\n");
    assertThat(CliRun.of("--device", "auto", "score", "--help").code()).isZero();
    assertThat(CliRun.of("generate", "--device", "AUTO", "--help").code()).isZero();
  }

  @Test
  void missingModelDirectory() {
    CliRun r = CliRun.of("score", "--model", tmp.resolve("nope").toString(), "--ids", "1,2,3");
    r.assertOneLineError("nope", "model directory not found");
  }

  @Test
  void unknownArchitecture() throws Exception {
    Path dir = copyOfGood("arch");
    Path cfg = dir.resolve("config.json");
    Files.writeString(cfg, Files.readString(cfg).replace("LlamaForCausalLM", "GPT2LMHeadModel"));
    CliRun.of("score", "--model", dir.toString(), "--ids", "1,2").assertOneLineError("config.json", "GPT2LMHeadModel");
  }

  @Test
  void truncatedSafetensors() throws Exception {
    Path dir = copyOfGood("trunc");
    Path st = dir.resolve("model.safetensors");
    try (RandomAccessFile f = new RandomAccessFile(st.toFile(), "rw")) {
      f.setLength(f.length() - 100);
    }
    CliRun.of("score", "--model", dir.toString(), "--ids", "1,2").assertOneLineError("model.safetensors", "lm_head.weight");
  }

  @Test
  void aCheckpointWithOneNanWeightIsRefusedNamingTheTensor() throws Exception {
    Path dir = tmp.resolve("nan");
    var cfg = ModelPreset.TINY_LLAMA.config();
    var tensors = new java.util.ArrayList<>(RandomModelWriter.tensors(cfg, 1));
    for (int i = 0; i < tensors.size(); i++) {
      var t = tensors.get(i);
      if (t.name().equals("model.layers.1.mlp.down_proj.weight")) {
        float[] poisoned = t.data().clone();
        poisoned[17] = Float.NaN;
        tensors.set(i, new org.treeroll.engine.io.NamedTensor(t.name(), t.shape(), poisoned));
      }
    }
    RandomModelWriter.writeDirectory(dir, cfg, tensors, DType.F32, java.util.Map.of(),
        java.util.List.of(ModelPreset.TINY_SPECIAL_TOKENS));
    CliRun.of("score", "--model", dir.toString(), "--ids", "1,2")
        .assertOneLineError("model.layers.1.mlp.down_proj.weight", "NaN at element 17", "non-finite");
  }

  @Test
  void tensorOfTheWrongShape() throws Exception {
    Path dir = copyOfGood("shape");
    Path cfg = dir.resolve("config.json");
    // The weights were written for intermediate_size 160; the config now claims 128.
    Files.writeString(cfg, Files.readString(cfg).replace("\"intermediate_size\" : 160", "\"intermediate_size\" : 128"));
    CliRun.of("score", "--model", dir.toString(), "--ids", "1,2").assertOneLineError("mlp.gate_proj.weight", "shape");
  }

  @Test
  void tokenIdOutsideTheVocabulary() {
    CliRun.of("score", "--model", good.toString(), "--ids", "1,99999").assertOneLineError("--ids", "99999");
  }

  @Test
  void badSamplingValue() {
    CliRun.of("generate", "--model", good.toString(), "--prompt-ids", "1,2", "--top-p", "1.5")
        .assertOneLineError("--top-p", "1.5");
  }

  @Test
  void unknownWeightPrecision() {
    CliRun.of("generate", "--model", good.toString(), "--prompt-ids", "1,2", "--weights", "half")
        .assertOneLineError("--weights", "half", "bf16");
  }

  @Test
  void unknownPreset() {
    CliRun.of("gen-model", "--preset", "gpt-5", "--out", tmp.resolve("x").toString())
        .assertOneLineError("gpt-5", "tiny-llama");
  }

  @Test
  void trainModelRefusesBadOptions() {
    CliRun.of("train-model", "--out", tmp.resolve("t0").toString(), "--steps", "0").assertOneLineError("steps", "0");
    CliRun.of("train-model", "--out", tmp.resolve("t1").toString(), "--levels", "0,0").assertOneLineError("level weights");
  }

  @Test
  void trainRlRefusesBadOptions() {
    CliRun.of("train-rl", "--config", "ppo-magic").assertOneLineError("--config", "ppo-magic", "treepo-trees");
    CliRun.of("train-rl", "--answers", "0").assertOneLineError("--answers", "0");
    CliRun.of("train-rl", "--lr", "0").assertOneLineError("--lr", "0");
    CliRun.of("train-rl", "--estimator", "nope").assertOneLineError("nope");
  }

  @Test
  void trainRlWritesItsMetricsAndPlot() throws Exception {
    Path dir = tmp.resolve("rl");
    Files.createDirectories(dir);
    Path stale = Files.writeString(dir.resolve("heldout-accuracy.svg9.tmp"), "half");
    CliRun r = CliRun.of("train-rl", "--model", RolloutCommandTest.MODEL, "--config", "treepo-trees", "--steps", "2",
        "--problems-per-step", "2", "--answers", "4", "--eval-every", "2", "--eval-problems", "4", "--out", dir.toString());
    assertThat(r.code()).as(r.err()).isZero();
    List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
    assertThat(lines).hasSize(3); // the measurement before training, then one line per step
    assertThat(lines.get(2)).contains("\"step\":2").contains("\"weight_version\":2").contains("\"heldout_accuracy\":");
    assertThat(Files.readString(dir.resolve("heldout-accuracy.svg"))).contains("<polyline");
    assertThat(stale).doesNotExist();

    // A token budget ends the run early, measured; --compare reads it as one seed of a configuration.
    Path seed = tmp.resolve("cmp/treepo/seed-1");
    CliRun b = CliRun.of("train-rl", "--model", RolloutCommandTest.MODEL, "--config", "treepo-trees",
        "--token-budget", "1", "--problems-per-step", "2", "--answers", "4", "--eval-every", "10", "--eval-problems", "4",
        "--warmup", "2", "--epochs", "2", "--kl", "0.05", "--decay", "--filter-uniform", "--out", seed.toString(),
        "--save", tmp.resolve("policy").toString());
    assertThat(b.code()).as(b.err()).isZero();
    // The saved policy loads as a model, and a second run will not write over it.
    CliRun e = CliRun.of("eval", "--model", tmp.resolve("policy").toString(), "--problems", "4");
    assertThat(e.code()).as(e.err()).isZero();
    assertThat(e.out()).contains("held-out accuracy");
    CliRun.of("train-rl", "--model", RolloutCommandTest.MODEL, "--save", tmp.resolve("policy").toString())
        .assertOneLineError("--save", "already holds weights");
    List<String> budgeted = Files.readAllLines(seed.resolve("metrics.jsonl"));
    assertThat(budgeted).hasSize(2);
    assertThat(budgeted.get(1)).contains("\"step\":1").contains("\"heldout_accuracy\":").contains("\"kl\":");
    CliRun cmp = CliRun.of("train-rl", "--compare", dir.toString(), tmp.resolve("cmp/treepo").toString(),
        "--out", tmp.resolve("cmp").toString());
    assertThat(cmp.code()).as(cmp.err()).isZero();
    assertThat(cmp.out()).contains("configuration").contains("rl ").contains("treepo ");
    assertThat(Files.readString(tmp.resolve("cmp/comparison.svg"))).contains("treepo").contains("rl");
    CliRun.of("train-rl", "--compare", tmp.resolve("nothing-here").toString()).assertOneLineError("nothing-here");
  }

  @Test
  void sharedPrefixBenchRefusesPromptsLongerThanTheContext() {
    CliRun.of("bench", "shared-prefix", "--model", good.toString(), "--system-tokens", "2040")
        .assertOneLineError("--system-tokens 2040", "max_position_embeddings 2048");
    CliRun.of("bench", "shared-prefix", "--model", good.toString(), "--user-tokens", "9-3")
        .assertOneLineError("--user-tokens", "9-3");
  }

  @Test
  void trainModelWritesALoadableModel() throws Exception {
    Path dir = tmp.resolve("trained");
    // What a train-model killed mid-write leaves: removed by the next one.
    Files.createDirectories(dir);
    Path staleWeights = Files.writeString(dir.resolve("model.safetensors123.tmp"), "half");
    Path stalePlot = Files.writeString(dir.resolve("training-loss.svg45.tmp"), "half");
    CliRun r = CliRun.of("train-model", "--out", dir.toString(), "--steps", "3", "--batch", "2", "--eval", "2");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("final loss").contains("held-out accuracy at temperature 1: ");
    for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json",
        "training-log.csv", "training-loss.svg"}) {
      assertThat(dir.resolve(f)).isRegularFile();
    }
    assertThat(staleWeights).doesNotExist();
    assertThat(stalePlot).doesNotExist();
  }

  @Test
  void scoreWorksOnTheGoodModel() {
    CliRun r = CliRun.of("score", "--model", good.toString(), "--ids", "5,6,7");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("\"logprob\"").contains("sum_logprob");
  }

  private static Path copyOfGood(String name) throws Exception {
    Path dir = tmp.resolve(name);
    Files.createDirectories(dir);
    try (var files = Files.list(good)) {
      for (Path f : files.toList()) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    return dir;
  }
}
