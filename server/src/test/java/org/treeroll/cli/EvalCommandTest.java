package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(120)
class EvalCommandTest {
  @Test
  void printsAccuracyOverEveryAnswer() {
    CliRun r = CliRun.of("eval", "--model", RolloutCommandTest.MODEL, "--problems", "4", "--answers", "2");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).containsPattern(
        "held-out accuracy \\(4 problems of problem seed 1000 x 2 independent answers, sampling seed 7,"
            + " temperature 1.0\\): [0-8]/8 = [01]\\.\\d{3}; by level 1-4:");
  }

  @Test
  void zeroAnswersIsOneLine() {
    CliRun.of("eval", "--model", RolloutCommandTest.MODEL, "--answers", "0").assertOneLineError("--answers");
  }
}
