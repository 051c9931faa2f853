package org.treeroll.reward;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

class TreeRewardsTest {
  /** Tokens are code points, so decoding is exact and needs no tokenizer. */
  private static final Function<int[], String> DECODE = t -> new String(t, 0, t.length);

  private static SegmentNode grow(RolloutTree tree, SegmentNode parent, String text) {
    SegmentNode n = tree.addChild(parent, 0);
    text.codePoints().forEach(c -> n.append(c, -0.1f, 0.5f));
    return n;
  }

  /** A tree whose answers are "The answer is 42", "The answer is 41" and "#### 42". */
  private static RolloutTree tree(int id) {
    RolloutTree t = new RolloutTree(id, "Q?".codePoints().toArray(), 0, 0, "test");
    SegmentNode head = grow(t, t.root(), "The answer is ");
    grow(t, head, "42\n");
    grow(t, head, "41\n");
    grow(t, t.root(), "#### 42\n");
    return t;
  }

  /** A reward function whose verdicts the test hands out by hand. */
  private static final class Manual implements RewardFunction {
    final List<RewardRequest> requests = new ArrayList<>();
    final List<CompletableFuture<Reward>> verdicts = new ArrayList<>();

    @Override
    public String name() {
      return "manual";
    }

    @Override
    public synchronized CompletableFuture<Reward> score(RewardRequest request) {
      requests.add(request);
      CompletableFuture<Reward> f = new CompletableFuture<>();
      verdicts.add(f);
      return f;
    }
  }

  @Test
  void scoresEveryLeafOfEveryTree() {
    RolloutTree a = tree(0);
    RolloutTree b = tree(1);
    TreeRewards.Summary s = new TreeRewards(new MathReward())
        .scoreAll(List.of(a, b), DECODE, List.of("Q?", "Q?"), List.of("42", "41")).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    assertThat(a.leaves()).extracting(SegmentNode::reward).containsExactly(1.0, 0.0, 1.0);
    assertThat(b.leaves()).extracting(SegmentNode::reward).containsExactly(0.0, 1.0, 0.0);
    assertThat(s).isEqualTo(new TreeRewards.Summary(6, 0, 0.5, null));
  }

  @Test
  void failuresBecomeLeafErrorsNotZeros() {
    RolloutTree t = tree(0);
    RewardFunction broken = new RewardFunction() {
      private int calls;

      @Override
      public String name() {
        return "broken";
      }

      @Override
      public CompletableFuture<Reward> score(RewardRequest request) {
        return switch (calls++) {
          case 0 -> CompletableFuture.completedFuture(Reward.failed("verifier down"));
          case 1 -> CompletableFuture.failedFuture(new IllegalStateException("boom"));
          default -> throw new IllegalStateException("bang");
        };
      }
    };
    TreeRewards.Summary s = new TreeRewards(broken).scoreAll(List.of(t), DECODE, List.of("Q?"), null).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    List<SegmentNode> leaves = t.leaves();
    assertThat(leaves).noneMatch(SegmentNode::hasReward);
    assertThat(leaves).extracting(SegmentNode::rewardError)
        .containsExactly("verifier down", "broken failed: boom", "broken failed: bang");
    assertThat(s.scored()).isZero();
    assertThat(s.errors()).isEqualTo(3);
    assertThat(s.meanReward()).isNaN();
    assertThat(s.firstError()).isEqualTo("verifier down");
  }

  @Test
  void aLeafThatDoesNotDecodeIsAnError() {
    RolloutTree t = tree(0);
    TreeRewards.Summary s = new TreeRewards(new MathReward()).scoreAll(List.of(t), tokens -> {
      if (tokens[0] == '#') {
        throw new IllegalArgumentException("unknown token");
      }
      return DECODE.apply(tokens);
    }, List.of("Q?"), List.of("42")).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    assertThat(s.scored()).isEqualTo(2);
    assertThat(s.errors()).isEqualTo(1);
    assertThat(t.leaves().get(2).rewardError()).contains("cannot decode").contains("unknown token");
  }

  @Test
  void submittingDoesNotWaitForTheVerdict() {
    RolloutTree t = tree(0);
    Manual manual = new Manual();
    TreeRewards.Batch batch = new TreeRewards(manual).batch().add(t, "Q?", "42");
    List<SegmentNode> leaves = t.leaves();
    CompletableFuture<Reward> first = batch.submit(t, leaves.get(0), "The answer is 42\n");
    batch.submit(t, leaves.get(1), "The answer is 41\n");
    assertThat(first).isNotDone();
    assertThat(manual.requests.get(0)).isEqualTo(new RewardRequest("Q?", "The answer is 42\n", "42"));

    manual.verdicts.get(0).complete(Reward.of(1));
    assertThat(first).isCompletedWithValue(Reward.of(1));
    assertThat(leaves.get(0).reward()).isEqualTo(1.0);
    CompletableFuture<TreeRewards.Summary> all = batch.awaitAll();
    assertThat(all).isNotDone();
    assertThat(batch.summary().scored()).isEqualTo(1);

    manual.verdicts.get(1).complete(Reward.of(0));
    assertThat(all).isCompletedWithValue(new TreeRewards.Summary(2, 0, 0.5, null));
    assertThatThrownBy(() -> batch.submit(t, leaves.get(2), "#### 42\n")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("batch is closed");
  }

  @Test
  void verdictsAreWrittenByTheGivenExecutor() {
    RolloutTree t = tree(0);
    Queue<Runnable> engineThread = new ArrayDeque<>();
    TreeRewards.Batch batch = new TreeRewards(new MathReward(), engineThread::add).batch().add(t, "Q?", "42");
    SegmentNode leaf = t.leaves().get(0);
    CompletableFuture<Reward> r = batch.submit(t, leaf, "The answer is 42\n");
    assertThat(leaf.hasReward()).isFalse();
    assertThat(r).isNotDone();
    engineThread.poll().run();
    assertThat(leaf.reward()).isEqualTo(1.0);
    assertThat(r).isCompletedWithValue(Reward.of(1));
  }

  @Test
  void aLeafSplitWhileBeingScoredGetsItsVerdictAtTheAnswersEnd() {
    RolloutTree t = tree(0);
    Manual manual = new Manual();
    TreeRewards.Batch batch = new TreeRewards(manual).batch().add(t, "Q?", "42");
    SegmentNode leaf = t.leaves().get(0);
    batch.submit(t, leaf, "The answer is 42\n");
    SegmentNode head = t.splitAt(leaf, 1);
    SegmentNode fork = t.addChild(head, 7);
    manual.verdicts.get(0).complete(Reward.of(1));
    assertThat(leaf.reward()).isEqualTo(1.0);
    assertThat(head.hasReward()).isFalse();
    assertThat(fork.hasReward()).isFalse();
  }

  @Test
  void refusesLeavesItCannotPlace() {
    RolloutTree t = tree(0);
    RolloutTree other = tree(1);
    TreeRewards.Batch batch = new TreeRewards(new MathReward()).batch();
    SegmentNode leaf = t.leaves().get(0);
    assertThatThrownBy(() -> batch.submit(t, leaf, "x")).isInstanceOf(TreeRollException.class)
        .hasMessage("tree rewards: tree 0 has no problem; add(tree, prompt, reference) first");
    batch.add(t, "Q?", "42");
    assertThatThrownBy(() -> batch.submit(t, other.leaves().get(0), "x")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("is not in tree 0");
    assertThatThrownBy(() -> batch.submit(t, leaf.parent(), "x")).hasMessageContaining("is not a leaf");
    assertThatThrownBy(() -> batch.submit(t, t.root(), "x")).hasMessageContaining("is not a leaf");
    assertThatThrownBy(() -> batch.submit(t, leaf, null)).hasMessageContaining("response of leaf");
    batch.submit(t, leaf, "The answer is 42\n");
    assertThatThrownBy(() -> batch.submit(t, leaf, "again")).hasMessageContaining("already submitted");
    assertThatThrownBy(() -> batch.add(t, "Q?", "43")).hasMessageContaining("already added with another problem");
    assertThatThrownBy(() -> new TreeRewards(new MathReward()).scoreAll(List.of(t), DECODE, List.of(), null))
        .isInstanceOf(TreeRollException.class).hasMessage("tree rewards: prompts has 0 entries for 1 trees");
    assertThatThrownBy(() -> new TreeRewards(new MathReward())
        .scoreAll(List.of(t), DECODE, List.of("Q?"), List.of("1", "2"))).hasMessageContaining("references has 2");
    assertThatThrownBy(() -> new TreeRewards(null)).hasMessageContaining("function is null");
  }
}
