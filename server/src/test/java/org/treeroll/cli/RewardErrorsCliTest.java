package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.bridge.SLF4JBridgeHandler;

/** A verifier that refuses every connection: counted reward errors, a clean stderr, and the option to fail. */
@Timeout(120)
class RewardErrorsCliTest {
  static final String MODEL = RolloutCommandTest.MODEL;
  @TempDir Path tmp;
  static String refused;

  @BeforeAll
  static void refusedPort() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    } // closed: connecting is refused
    refused = "http:url=http://127.0.0.1:" + port + "/verify,retries=0";
  }

  @Test
  void demoCountsRewardErrorsWithoutLibraryWarningsOnStderr() {
    CliRun r = CliRun.of("demo", "--model", MODEL, "--problems", "1", "--leaves", "2", "--reward", refused,
        "--out", tmp.resolve("demo").toString());
    assertThat(r.code()).as(r.err() + r.stderr()).isZero();
    assertThat(r.out()).contains("2 reward errors").contains("accuracy -");
    // Caffeine logs a failed load through java.util.logging; the bridge sends it to logback.
    assertThat(SLF4JBridgeHandler.isInstalled()).isTrue();
    assertThat(r.stderr()).doesNotContain("WARN").doesNotContain("Exception").doesNotContain("\tat ")
        .doesNotContain("VerifierFailure");
  }

  @Test
  void demoFailsOnRewardErrorsWhenAskedAndWritesNothing() {
    Path out = tmp.resolve("failing");
    CliRun r = CliRun.of("demo", "--model", MODEL, "--problems", "1", "--leaves", "2", "--reward", refused,
        "--out", out.toString(), "--fail-on-reward-errors");
    r.assertOneLineError("--fail-on-reward-errors", "2 of 2 answers", "http verifier");
    assertThat(out).doesNotExist();
  }

  @Test
  void rolloutStopsBeforeWritingAPartWithRewardErrors() throws Exception {
    Path prompts = tmp.resolve("p.jsonl");
    Files.write(prompts, List.of("{\"prompt\": \"Q: 2+3=?\\n\", \"reward_model\": {\"ground_truth\": \"5\"}}"));
    Path out = tmp.resolve("rollout");
    CliRun r = CliRun.of("rollout", "--model", MODEL, "--prompts", prompts.toString(), "--out", out.toString(),
        "--leaves", "2", "--segment", "8", "--depth", "12", "--reward", refused, "--fail-on-reward-errors");
    r.assertOneLineError("--fail-on-reward-errors", "of part 0", "http verifier");
    assertThat(out.resolve("part-00000.trees.jsonl")).doesNotExist();

    CliRun counted = CliRun.of("rollout", "--model", MODEL, "--prompts", prompts.toString(), "--out",
        out.toString(), "--leaves", "2", "--segment", "8", "--depth", "12", "--reward", refused);
    assertThat(counted.code()).as(counted.err()).isZero();
    assertThat(counted.out()).contains("wrote 1 parts").contains("2 reward errors");
  }
}
