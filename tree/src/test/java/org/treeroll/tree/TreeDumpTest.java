package org.treeroll.tree;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TreeDumpTest {
  @TempDir Path dir;

  static RolloutTree sample() {
    RolloutTree t = new RolloutTree(3, new int[] {1, 2, 3}, 7, 99);
    SegmentNode a = t.addChild(t.root(), 11);
    a.append(4, -0.5f, 1.25f);
    a.append(5, -1.5f, 0.75f);
    SegmentNode b = t.addChild(a, 12);
    b.append(6, -0.25f, 0.5f);
    b.finish(FinishReason.EOS);
    SegmentNode c = t.addChild(a, 13);
    c.append(7, -2f, 2f);
    c.finish(FinishReason.MAX_TOKENS);
    return t;
  }

  @Test
  void roundTripKeepsEveryField() {
    Path f = dir.resolve("trees.jsonl");
    TreeDump.write(f, List.of(sample(), sample()));
    List<RolloutTree> back = TreeDump.read(f);
    assertThat(back).hasSize(2);
    RolloutTree t = back.get(0);
    assertThat(t.id()).isEqualTo(3);
    assertThat(t.weightVersion()).isEqualTo(7);
    assertThat(t.prompt()).containsExactly(1, 2, 3);
    assertThat(t.nodes()).hasSize(4);
    assertThat(t.leaves()).extracting(SegmentNode::finishReason)
        .containsExactly(FinishReason.EOS, FinishReason.MAX_TOKENS);
    assertThat(RolloutTree.responseTokens(t.leaves().get(0))).containsExactly(4, 5, 6);
    assertThat(RolloutTree.responseLogProbs(t.leaves().get(1))).containsExactly(-0.5f, -1.5f, -2f);
    assertThat(t.nodes().get(2).seed()).isEqualTo(12);
    assertThat(t.nodes().get(2).entropies()).containsExactly(0.5f);
    // A second write produces the same bytes: the format is deterministic.
    Path g = dir.resolve("again.jsonl");
    TreeDump.write(g, back);
    assertThat(g).hasSameTextualContentAs(f);
  }

  @Test
  void countsSharedAndIndependentTokens() {
    RolloutTree t = sample();
    assertThat(t.distinctTokens()).isEqualTo(3 + 2 + 1 + 1);
    // Prompt once, then each leaf's whole response: 3 + 3 + 3.
    assertThat(t.independentTokens()).isEqualTo(9);
  }

  @Test
  void brokenLinesNameTheLineAndTheField() throws Exception {
    Path f = dir.resolve("bad.jsonl");
    Files.writeString(f, "{\"format\":\"treeroll.tree\",\"version\":2}\n");
    assertThatThrownBy(() -> TreeDump.read(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("bad.jsonl:1").hasMessageContaining("version");
    Files.writeString(f, TreeDump.toJson(sample()).toString().replace("\"parent\":1", "\"parent\":5") + "\n");
    assertThatThrownBy(() -> TreeDump.read(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("out of order");
    Files.writeString(f, "not json\n");
    assertThatThrownBy(() -> TreeDump.read(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("not valid JSON");
  }
}
