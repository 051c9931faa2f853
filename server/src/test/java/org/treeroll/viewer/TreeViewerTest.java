package org.treeroll.viewer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

class TreeViewerTest {
  static TextTokenizer tok;

  @BeforeAll
  static void load() {
    tok = TextTokenizer.load(Path.of(System.getProperty("treeroll.tokenizers.dir", "../.cache/tokenizers")).resolve("qwen3"));
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  @Test
  void piecesJoinToTheSegmentsTextEvenWhereATokenIsPartOfACharacter() {
    String text = "Größe: 猫🐱 x² = 4<|im_end|>";
    int[] ids = tok.encode(text);
    String[] pieces = TreeViewer.pieces(tok, ids);
    assertThat(pieces).hasSize(ids.length);
    assertThat(String.join("", pieces)).isEqualTo(tok.decode(ids, false)).isEqualTo(text);
    // The emoji is several byte tokens: the first ones carry nothing, the last the whole character.
    assertThat(pieces).contains("🐱").contains("");
    assertThat(pieces).noneMatch(p -> p.contains("\uFFFD"));
  }

  @Test
  void thePageInlinesItsDataSoThatNoStringCanEndTheScript() {
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "fixed");
    SegmentNode a = t.addChild(t.root(), 1);
    for (int id : tok.encode("</script><b>")) {
      a.append(id, -1f, 1f);
    }
    a.finish(FinishReason.EOS);
    a.setReward(1);
    String html = TreeViewer.page("a<b", List.of(t), tok, "qwen3", List.of(AdvantageEstimators.create("grpo")));
    assertThat(html).contains("<title>TreeRoll trees: a&lt;b</title>");
    assertThat(html.split("</script>", -1)).as("the data block's and the script's ends only").hasSize(3);
    assertThat(html).doesNotContain("</script><b>");
    assertThat(html).doesNotContainPattern("(src|href)=\"?https?:"); // nothing fetched at view time
  }
}
