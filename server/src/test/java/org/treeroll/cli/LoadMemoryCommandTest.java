package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;

/** {@code bench load-memory} prints the load's parts in order, the weights in direct buffers. */
@EnabledOnOs(OS.LINUX) // resident sizes come from /proc
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LoadMemoryCommandTest {
  static final Pattern FILES = Pattern.compile("weight files (\\d+) MB");
  static final Pattern ROW = Pattern.compile("\\| ([a-zA-Z ,-]+) \\| (\\d+) \\| (-?\\d*) \\| (\\d+) \\| (\\d+) \\|");

  @Test
  void rowsFollowTheLoadAndTheWeightsSitInDirectBuffers() {
    CliRun r = CliRun.of("bench", "load-memory", "--model", RolloutCommandTest.MODEL);
    assertThat(r.code()).as(r.err()).isZero();
    Matcher files = FILES.matcher(r.out());
    assertThat(files.find()).as(r.out()).isTrue();
    long fileMb = Long.parseLong(files.group(1));
    Matcher m = ROW.matcher(r.out());
    String[] parts = {"JVM start", "tokenizer", "PyTorch engine", "weights and kernel warm-up"};
    for (String part : parts) {
      assertThat(m.find()).as(r.out()).isTrue();
      assertThat(m.group(1)).isEqualTo(part);
      long direct = Long.parseLong(m.group(4));
      if (part.startsWith("weights")) {
        assertThat(direct).as("the weights' direct buffers against their files").isGreaterThanOrEqualTo(fileMb - 1);
      } else {
        assertThat(direct).as(part + ": no weights yet").isLessThan(Math.max(1, fileMb / 2));
      }
    }
    assertThat(r.out()).containsPattern("loaded: \\d+\\.\\d\\dx the weight files");
  }
}
