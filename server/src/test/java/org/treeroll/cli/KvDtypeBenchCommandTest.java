package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code --kv-dtype} on the command line: {@code bench kv-dtype} samples the bundled model's trees
 * over fp32 and BF16 pages, the BF16 budget holds twice the pages, and fp32 pages match fp32
 * rescoring to the engine's noise while BF16 ones move the log-probs; a bad value is one line.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class KvDtypeBenchCommandTest {
  static final Pattern ROW = Pattern.compile("\\| (F32|BF16) \\| ([0-9,]+) \\| (\\d+) \\| ([0-9,]+) \\| (\\S+) \\| (\\S+) \\|");

  static boolean javaKernels() {
    return Runtime.version().feature() >= 22 && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  @Test
  void benchComparesBf16PagesWithFp32Rescoring() {
    CliRun r = CliRun.of("bench", "kv-dtype", "--model", RolloutCommandTest.MODEL, "--prompts", "2", "--leaves", "4",
        "--kv-budget-mb", "8");
    if (!javaKernels()) {
      r.assertOneLineError("16-bit KV pages run only on the Java Vector API kernels");
      return;
    }
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("held-out arithmetic problems");
    Matcher m = ROW.matcher(r.out());
    assertThat(m.find()).as(r.out()).isTrue();
    assertThat(m.group(1)).isEqualTo("F32");
    long fp32Pages = Long.parseLong(m.group(2).replace(",", ""));
    assertThat(Double.parseDouble(m.group(5))).as("fp32 pages: the engine's own noise").isLessThan(1e-4);
    assertThat(m.find()).as(r.out()).isTrue();
    assertThat(m.group(1)).isEqualTo("BF16");
    assertThat(Long.parseLong(m.group(2).replace(",", ""))).isEqualTo(2 * fp32Pages);
    assertThat(Long.parseLong(m.group(4).replace(",", ""))).isPositive();
    assertThat(Double.parseDouble(m.group(5))).as("BF16 pages move log-probs").isGreaterThan(1e-6).isLessThan(1.0);
  }

  @Test
  void anUnknownKvDtypeIsOneLine() {
    CliRun bad = CliRun.of("generate", "--model", RolloutCommandTest.MODEL, "--prompt-ids", "1,2", "--kv-dtype", "fp8");
    assertThat(bad.code()).isNotZero();
    assertThat(bad.err().strip()).contains("--kv-dtype", "fp8", "F32, BF16").doesNotContain("\n");
  }
}
