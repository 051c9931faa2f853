package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;

/**
 * {@code treeroll view} on a demo dump, opened in a real headless chromium: the page draws every
 * segment, a click on one shows its decoded text, and the screenshot is docs/images/viewer.png.
 */
class ViewCommandTest {
  @TempDir Path tmp;

  static final Path SCREENSHOT = Path.of(System.getProperty("treeroll.models.dir", "../models"))
      .toAbsolutePath().normalize().resolveSibling("docs").resolve("images").resolve("viewer.png");

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void pageDrawsEverySegmentAndShowsTheClickedOnesText() throws Exception {
    Optional<Path> chromium = HeadlessChromium.find();
    Assumptions.assumeTrue(chromium.isPresent(),
        "no chromium at /usr/bin/chromium: install it with 'apt-get install -y chromium' (.ci/run does)");
    Path out = tmp.resolve("demo");
    CliRun demo = CliRun.of("demo", "--model", RolloutCommandTest.MODEL, "--problems", "3", "--leaves", "8",
        "--seed", "5", "--policy", "rose", "--out", out.toString()); // rose refills: the page marks them
    assertThat(demo.code()).as(demo.err()).isZero();
    Path dump = out.resolve("trees.jsonl");
    Path page = tmp.resolve("view.html");
    CliRun view = CliRun.of("view", dump.toString(), "--out", page.toString(), "--model", RolloutCommandTest.MODEL,
        "--estimator", "treepo,grpo:std=false,eps=1e-6,spo,rose");
    assertThat(view.code()).as(view.err()).isZero();
    List<RolloutTree> trees = TreeDump.read(dump);
    int segments = trees.stream().mapToInt(t -> t.nodes().size() - 1).sum();
    assertThat(view.out()).contains("3 trees, " + segments + " segments");

    // The node to click: the least likely segment (its tokens are shaded the most) of the tree
    // whose answers disagree most (mean reward nearest 0.5: the picture shows both colours).
    RolloutTree tree = trees.stream().min(java.util.Comparator.comparingDouble(
        t -> Math.abs(t.leaves().stream().mapToDouble(SegmentNode::reward).average().orElseThrow() - 0.5))).orElseThrow();
    SegmentNode node = tree.nodes().stream().filter(n -> !n.isRootNode())
        .min((a, b) -> Double.compare(a.meanLogProb(), b.meanLogProb())).orElseThrow();
    String expected;
    try (TextTokenizer tok = TextTokenizer.load(Path.of(RolloutCommandTest.MODEL))) {
      expected = tok.decode(node.tokens(), false);
    }

    try (HeadlessChromium browser = new HeadlessChromium(chromium.get(), Files.createDirectory(tmp.resolve("profile")),
        1500, 950)) {
      browser.open(page);
      assertThat(browser.eval("DATA.estimators").toString())
          .isEqualTo("[\"treepo:groups=depth,weighting=mean,whiten=true\",\"grpo:eps=1.0E-6,std=false\",\"spo\","
              + "\"rose:correct=1.0,lambda=0.0\"]");
      assertThat(browser.eval("document.querySelectorAll('svg .seg').length").asInt()).isEqualTo(segments);
      long refilled = trees.stream().flatMap(t -> t.nodes().stream()).filter(SegmentNode::refilled).count();
      assertThat(refilled).as("the dump has refills").isPositive();
      assertThat(browser.eval("document.querySelectorAll('svg .seg.refill').length").asLong()).isEqualTo(refilled);
      assertThat(browser.eval("document.querySelector('#seg-text')").isNull()).as("no segment shown yet").isTrue();

      String seg = "document.querySelector('.seg[data-tree=\"" + trees.indexOf(tree) + "\"][data-node=\"" + node.id() + "\"]')";
      JsonNode at = browser.eval("(() => { const s = " + seg + "; s.scrollIntoView({block: 'center'});"
          + " const r = s.querySelector('rect').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()");
      browser.click(at.get(0).asDouble(), at.get(1).asDouble());
      assertThat(browser.eval("document.querySelector('#seg-text').textContent").asText()).isEqualTo(expected);
      assertThat(browser.eval("document.querySelector('#panel h3').textContent").asText())
          .startsWith("Tree " + tree.id() + " · segment " + node.id() + " ·");
      assertThat(browser.eval(seg + ".classList.contains('selected')").asBoolean()).as("clicked node selected").isTrue();
      browser.eval("window.scrollTo(0, 0)"); // the picture for the docs starts at the page's top
      browser.screenshot(SCREENSHOT);
    }
    assertThat(Files.size(SCREENSHOT)).isGreaterThan(10_000);
  }

  @Test
  void anUnknownEstimatorIsOneLineBeforeAnythingIsRead() {
    CliRun r = CliRun.of("view", tmp.resolve("absent.jsonl").toString(), "--estimator", "treepo,nope");
    r.assertOneLineError("unknown advantage estimator 'nope'");
    assertThat(tmp.resolve("view.html")).doesNotExist();
  }
}
