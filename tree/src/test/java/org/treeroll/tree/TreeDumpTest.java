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
    RolloutTree t = new RolloutTree(3, new int[] {1, 2, 3}, 7, 99, "fixed");
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
  void roundTripKeepsEveryField() throws Exception {
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
    if (f.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      assertThat(java.nio.file.Files.getPosixFilePermissions(f))
          .contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ);
    }
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

  @Test
  void rewardsAndPolicySurviveTheRoundTrip() {
    RolloutTree t = sample();
    t.leaves().get(0).setReward(1.0);
    t.leaves().get(1).setRewardError("verifier timed out after 3 tries");
    Path f = dir.resolve("rewards.jsonl");
    TreeDump.write(f, List.of(t));
    RolloutTree back = TreeDump.read(f).get(0);
    assertThat(back.policy()).isEqualTo("fixed");
    assertThat(back.leaves().get(0).reward()).isEqualTo(1.0);
    assertThat(back.leaves().get(1).hasReward()).isFalse();
    assertThat(back.leaves().get(1).rewardError()).contains("timed out");
    assertThat(back.reference()).as("no reference recorded, none written").isNull();
  }

  @Test
  void theReferenceAnswerSurvivesTheRoundTrip() throws Exception {
    RolloutTree t = sample();
    t.setReference("\\frac{1}{2}");
    Path f = dir.resolve("reference.jsonl");
    TreeDump.write(f, List.of(t));
    assertThat(Files.readString(f)).contains("\"reference\":\"\\\\frac{1}{2}\"");
    assertThat(TreeDump.read(f).get(0).reference()).isEqualTo("\\frac{1}{2}");
    Files.writeString(f, Files.readString(f).replace("\"reference\":\"\\\\frac{1}{2}\"", "\"reference\":3"));
    assertThatThrownBy(() -> TreeDump.read(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("reference.jsonl:1").hasMessageContaining("'reference' must be a string");
  }

  @Test
  void splitInsideASegmentKeepsPathsAndRenumbersDepthFirst() throws Exception {
    RolloutTree t = sample();
    SegmentNode a = t.nodes().get(1); // tokens 4, 5 with children b (6) and c (7)
    t.leaves().get(0).setReward(1.0);
    SegmentNode head = t.splitAt(a, 1);
    assertThat(head.tokens()).containsExactly(4);
    assertThat(head.children()).containsExactly(a);
    assertThat(head.depth()).isEqualTo(1);
    SegmentNode tail = a;
    assertThat(tail.tokens()).containsExactly(5);
    assertThat(tail.depth()).isEqualTo(2);
    assertThat(tail.children()).allSatisfy(c -> assertThat(c.depth()).isEqualTo(3));
    SegmentNode fork = t.addChild(head, 21);
    fork.append(9, -3f, 1f);
    fork.finish(FinishReason.EOS);
    fork.markRefilled();
    // Every old answer reads the same tokens and log-probs as before the split.
    assertThat(t.leaves().stream().map(RolloutTree::responseTokens))
        .containsExactlyInAnyOrder(new int[] {4, 5, 6}, new int[] {4, 5, 7}, new int[] {4, 9});
    assertThat(t.distinctTokens()).isEqualTo(3 + 2 + 1 + 1 + 1);
    assertThatThrownBy(() -> TreeDump.write(dir.resolve("x.jsonl"), List.of(t)))
        .hasMessageContaining("renumber");
    t.renumber();
    assertThat(t.nodes()).extracting(SegmentNode::id).containsExactly(0, 1, 2, 3, 4, 5);
    assertThat(t.nodes().get(2)).isSameAs(tail);
    Path f = dir.resolve("split.jsonl");
    TreeDump.write(f, List.of(t));
    RolloutTree back = TreeDump.read(f).get(0);
    assertThat(back.leaves().stream().map(RolloutTree::responseTokens))
        .containsExactly(new int[] {4, 5, 6}, new int[] {4, 5, 7}, new int[] {4, 9});
    assertThat(back.leaves().get(0).reward()).isEqualTo(1.0);
    // The refill mark survives the round trip, on the refilled answer only.
    assertThat(back.nodes()).filteredOn(SegmentNode::refilled).extracting(SegmentNode::tokens)
        .containsExactly(new int[] {9});
    assertThat(Files.readString(f)).containsOnlyOnce("\"refill\":true");
    assertThatThrownBy(() -> t.splitAt(head, 1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void splittingARefilledNodeMovesTheMarkToWhereTheAnswerBegan() {
    RolloutTree t = sample();
    SegmentNode a = t.nodes().get(1);
    a.markRefilled();
    SegmentNode head = t.splitAt(a, 1);
    assertThat(head.refilled()).isTrue();
    assertThat(a.refilled()).isFalse();
  }

  @Test
  void candidatesFollowTheirTokensThroughASplit() {
    RolloutTree t = new RolloutTree(0, new int[] {1}, 0, 0, "rose");
    SegmentNode a = t.addChild(t.root(), 1);
    a.append(10, -0.1f, 0.5f, new int[] {10, 11}, new float[] {-0.1f, -2.4f});
    a.append(20, -0.2f, 0.6f, new int[] {20, 21}, new float[] {-0.2f, -1.7f});
    SegmentNode head = t.splitAt(a, 1);
    SegmentNode tail = a;
    assertThat(head.candidateIds(0)).containsExactly(10, 11);
    assertThat(tail.candidatesPerToken()).isEqualTo(2);
    assertThat(tail.candidateIds(0)).containsExactly(20, 21);
    assertThat(tail.candidateLogProbs(0)).containsExactly(-0.2f, -1.7f);
    assertThatThrownBy(() -> tail.append(30, 0f, 0f)).isInstanceOf(IllegalStateException.class);
  }
}
