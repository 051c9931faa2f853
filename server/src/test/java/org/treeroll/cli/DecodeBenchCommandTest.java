package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench decode} on a generated BF16 checkpoint: both ways of keeping its weights load
 * together and take turns for each batch size, one table row each, and the speed-up line compares
 * them. On a JDK without the Vector API both run fp32 (PyTorch reads no 16-bit weights).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DecodeBenchCommandTest {
  private static final Pattern ROW = Pattern.compile("^\\| (F32|BF16) \\| F32 \\| off \\| (\\d+) \\| \\d+ \\| ([0-9.]+) \\|",
      Pattern.MULTILINE);

  @TempDir Path tmp;

  @Test
  void bothWeightsTakeTurnsRoundByRound() {
    Path dir = tmp.resolve("tiny-bf16");
    CliRun gen = CliRun.of("gen-model", "--preset", "tiny-llama", "--out", dir.toString(), "--dtype", "BF16");
    assertThat(gen.code()).as(gen.err()).isZero();

    CliRun r = CliRun.of("bench", "decode", "--model", dir.toString(), "--batches", "1,2", "--steps", "2",
        "--rounds", "2", "--prompt-tokens", "4", "--read-gb", "0.01");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("2 rounds per batch size, the models taking turns");
    List<String> rows = new ArrayList<>();
    Matcher m = ROW.matcher(r.out());
    while (m.find()) {
      rows.add(m.group(1) + " " + m.group(2));
      assertThat(Double.parseDouble(m.group(3))).as("ms/step").isPositive();
    }
    String half = KvDtypeBenchCommandTest.javaKernels() ? "BF16" : "F32";
    assertThat(rows).containsExactly(half + " 1", half + " 2", "F32 1", "F32 2");
    if (KvDtypeBenchCommandTest.javaKernels()) {
      assertThat(r.out()).containsPattern("batch 1: BF16 [0-9.]+x the tokens/s of fp32")
          .containsPattern("batch 2: BF16 [0-9.]+x the tokens/s of fp32");
    }
  }
}
