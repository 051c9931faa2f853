package org.treeroll.tree;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

class TreeSvgTest {
  @TempDir Path dir;

  @Test
  void drawsOneBoxPerNodeColouredByTheRewardBelowIt() throws Exception {
    RolloutTree t = TreeDumpTest.sample(); // prompt -> a -> {b: eos, c: max_tokens}
    t.leaves().get(0).setReward(1.0);
    t.leaves().get(1).setReward(0.0);
    Path f = dir.resolve("tree.svg");
    TreeSvg.write(f, t, n -> "tokens " + java.util.Arrays.toString(n.tokens()) + " <&>", "tree 3");
    // Well-formed XML (escaping works), one box per node.
    Document d = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(f.toFile());
    assertThat(d.getElementsByTagName("rect").getLength()).isEqualTo(1 + t.nodes().size());
    assertThat(d.getElementsByTagName("line").getLength()).isEqualTo(t.nodes().size() - 1);
    String svg = Files.readString(f);
    assertThat(svg).contains("#e6505a") // reward 0: red
        .contains("#50dc5a") // reward 1: green
        .contains("mean reward 0.50 over 2 answers") // node a: one right, one wrong below it
        .contains("tokens [4, 5] &lt;&amp;&gt;");
  }
}
