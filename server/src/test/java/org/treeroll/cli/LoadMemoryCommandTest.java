package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
  static final Pattern ROW =
      Pattern.compile("\\| ([a-zA-Z ,-]+) \\| (\\d+) \\| (-?\\d*) \\| (\\d+) \\| (\\d+) \\| (\\d+) \\|");

  @Test
  void rowsFollowTheLoadAndTheWeightsSitOutsideTheHeap() throws Exception {
    // A fresh JVM: in this one, other tests' direct buffers would count as the load's.
    List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx1g", "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_interop_threads=1", "-cp", System.getProperty("java.class.path"),
        TreeRollCli.class.getName(), "bench", "load-memory", "--model", RolloutCommandTest.MODEL);
    Path err = Files.createTempFile("load-memory", ".err");
    String out;
    try {
      Process child = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
      out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(child.waitFor(120, TimeUnit.SECONDS)).as("the child ended").isTrue();
      assertThat(child.exitValue()).as("child stderr: %s", Files.readString(err)).isZero();
    } finally {
      Files.delete(err);
    }
    Matcher files = FILES.matcher(out);
    assertThat(files.find()).as(out).isTrue();
    long fileMb = Long.parseLong(files.group(1));
    Matcher m = ROW.matcher(out);
    String[] parts = {"JVM start", "tokenizer", "device chosen", "weights and kernel warm-up"};
    for (String part : parts) {
      assertThat(m.find()).as(out).isTrue();
      assertThat(m.group(1)).isEqualTo(part);
      long offHeap = Long.parseLong(m.group(4)) + Long.parseLong(m.group(5)); // direct buffers and mappings
      if (part.startsWith("weights")) {
        assertThat(offHeap).as("the weights' buffers against their files").isGreaterThanOrEqualTo(fileMb - 1);
      } else {
        assertThat(offHeap).as(part + ": no weights yet").isLessThan(Math.max(1, fileMb / 2));
      }
    }
    assertThat(out).containsPattern("loaded: \\d+\\.\\d\\dx the weight files");
  }
}
