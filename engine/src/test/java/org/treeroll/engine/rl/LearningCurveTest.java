package org.treeroll.engine.rl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.rl.LearningCurve.Point;
import org.treeroll.tree.TreeRollException;

/** Seeds averaged into one curve, and the tokens a curve takes to reach an accuracy. */
class LearningCurveTest {
  @Test
  void seedsAreMatchedByStepAndTheirLastMeasurementsTogether() {
    // Three seeds measured every 10 steps; the token budget ended them at steps 25, 24 and 20
    // (seed 3's end coincides with a regular measurement, seed 1 measured step 20 as well).
    List<Point> s1 = List.of(new Point(0, 0, 0.40), new Point(10, 1000, 0.44), new Point(20, 2000, 0.50),
        new Point(25, 2500, 0.56));
    List<Point> s2 = List.of(new Point(0, 0, 0.40), new Point(10, 1100, 0.46), new Point(20, 2100, 0.48),
        new Point(24, 2500, 0.60));
    List<Point> s3 = List.of(new Point(0, 0, 0.40), new Point(10, 900, 0.42), new Point(20, 2540, 0.58));
    LearningCurve c = LearningCurve.of("grpo", List.of(s1, s2, s3));
    // Steps 0 and 10 are in every run; step 20 is seed 3's last, so it joins the last row.
    assertThat(c.seeds()).isEqualTo(3);
    assertThat(c.tokens()).containsExactly(0, 1000, 2513);
    assertThat(c.mean()[1]).isCloseTo(0.44, within(1e-12));
    assertThat(c.low()[1]).isEqualTo(0.42);
    assertThat(c.high()[1]).isEqualTo(0.46);
    assertThat(c.mean()[2]).isCloseTo((0.56 + 0.60 + 0.58) / 3, within(1e-12));
    assertThat(c.low()[2]).isEqualTo(0.56);
    assertThat(c.high()[2]).isEqualTo(0.60);
    assertThat(c.finalTokens()).isEqualTo(2513);
  }

  @Test
  void tokensToReachInterpolatesBetweenTheMeasurementsAroundTheCrossing() {
    LearningCurve c = LearningCurve.of("trees", List.of(List.of(new Point(0, 0, 0.40), new Point(10, 1000, 0.50),
        new Point(20, 2000, 0.60), new Point(30, 3000, 0.55))));
    assertThat(c.tokensToReach(0.40)).isEqualTo(0);
    // 0.55 lies halfway between 0.50 (1000 tokens) and 0.60 (2000).
    assertThat(c.tokensToReach(0.55)).isCloseTo(1500, within(1e-9));
    assertThat(c.tokensToReach(0.60)).isCloseTo(2000, within(1e-9));
    assertThat(c.tokensToReach(0.61)).isNaN();
  }

  @Test
  void readsARunOrADirectoryOfSeedsAndRefusesAnythingElse(@TempDir Path dir) throws Exception {
    for (int seed = 1; seed <= 2; seed++) {
      Path run = Files.createDirectories(dir.resolve("treepo/seed-" + seed));
      Files.writeString(run.resolve(RlRun.METRICS), String.join("\n",
          "{\"step\":0,\"sampled_tokens\":0,\"heldout_accuracy\":0.4}",
          "{\"step\":1,\"sampled_tokens\":500,\"heldout_accuracy\":null}",
          "{\"step\":2,\"sampled_tokens\":1000,\"heldout_accuracy\":" + (0.4 + seed / 10.0) + "}", ""));
    }
    LearningCurve group = LearningCurve.read(dir.resolve("treepo"));
    assertThat(group.label()).isEqualTo("treepo");
    assertThat(group.seeds()).isEqualTo(2);
    assertThat(group.tokens()).containsExactly(0, 1000);
    assertThat(group.finalAccuracy()).isCloseTo(0.55, within(1e-12));
    LearningCurve one = LearningCurve.read(dir.resolve("treepo/seed-1"));
    assertThat(one.seeds()).isEqualTo(1);
    assertThat(one.finalAccuracy()).isCloseTo(0.5, within(1e-12));
    Files.createDirectories(dir.resolve("empty"));
    assertThatThrownBy(() -> LearningCurve.read(dir.resolve("empty"))).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("empty").hasMessageContaining("neither a run");
  }

  @Test
  void tokenTicksAreRoundAndFourToTenOfThem() {
    assertThat(AccuracyCurveSvg.tokenTick(1_005_419)).isEqualTo(200_000);
    assertThat(AccuracyCurveSvg.tokenTick(3_000_475)).isEqualTo(500_000);
    assertThat(AccuracyCurveSvg.tokenTick(8_000)).isEqualTo(1_000);
    assertThat(AccuracyCurveSvg.tokenTick(45_000)).isEqualTo(10_000);
    assertThat(AccuracyCurveSvg.tokenTick(35_000)).isEqualTo(5_000);
    String svg = AccuracyCurveSvg.render(List.of(LearningCurve.of("grpo", List.of(List.of(new Point(0, 0, 0.4),
        new Point(10, 1_005_419, 0.5))))), "t");
    assertThat(svg).contains(">200k<", ">1M<").doesNotContain(">201k<");
  }
}
