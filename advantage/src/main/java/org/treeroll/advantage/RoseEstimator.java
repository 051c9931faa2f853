package org.treeroll.advantage;

import java.util.Comparator;
import java.util.List;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * ROSE's segment-level advantage with its optional length-aware correction.
 *
 * <p>Branch points are node ends: the end of a node with two or more children, plus the root
 * (start of every answer) and the leaf (its end). The value of a branch point is the mean reward
 * of the rewarded answers passing through it, a leaf's value its own reward, the root's the mean
 * over the prompt's answers. A ROSE segment runs from one branch point to the next and may span a
 * chain of single-child nodes (a tree split at a token, or a path that continued without
 * branching); all its tokens get {@code V(end) - V(start)}. So every node of such a chain gets the
 * same advantage, where SPO would give the chain's first node everything and the rest 0. A node
 * whose other children hold only unrewarded answers changes nothing either way: its value equals
 * its rewarded child's.
 *
 * <p>Length-aware correction ({@code lambda > 0}): among a prompt's correct answers (reward >=
 * {@code correct}) take the shortest (the first in tree order on a tie); for each other correct
 * answer o, k = the deepest branch point o shares with it (their deepest common node), r_s and r_o
 * the response tokens after k of the shortest and of o, {@code factor = 1 - (r_s/r_o)^lambda};
 * every advantage of o after k becomes {@code adv - |adv| * factor}. Concise correct reasoning
 * keeps its credit, a longer correct detour loses part of it.
 */
public final class RoseEstimator implements AdvantageEstimator {
  private final double lambda;
  private final double correct;

  /**
   * @param lambda weight of the length correction, >= 0; 0 turns it off
   * @param correct rewards at or above this count as correct answers
   */
  public RoseEstimator(double lambda, double correct) {
    if (!(lambda >= 0) || Double.isInfinite(lambda)) {
      throw new TreeRollException("advantage estimator 'rose': parameter 'lambda' must be a finite number >= 0, got " + lambda);
    }
    if (!Double.isFinite(correct)) {
      throw new TreeRollException("advantage estimator 'rose': parameter 'correct' must be finite, got " + correct);
    }
    this.lambda = lambda;
    this.correct = correct;
  }

  @Override
  public String name() {
    return "rose:correct=" + correct + ",lambda=" + lambda;
  }

  @Override
  public BatchAdvantages estimate(List<RolloutTree> trees) {
    return Batch.estimate(name(), trees, rewards -> {
      SegmentNode shortest = lambda == 0 ? null : shortestCorrect(rewards);
      int prompt = rewards.tree().root().tokenCount();
      return leaf -> {
        double[] seg = segmentValues(rewards, leaf);
        if (shortest != null && leaf != shortest && leaf.reward() >= correct) {
          correctLength(seg, leaf, shortest, prompt);
        }
        return seg;
      };
    });
  }

  private static double[] segmentValues(SubtreeRewards rewards, SegmentNode leaf) {
    List<SegmentNode> path = RolloutTree.path(leaf);
    double[] seg = new double[path.size() - 1];
    int start = 0; // index in path of the branch point the current segment starts at
    for (int i = 1; i < path.size(); i++) {
      SegmentNode n = path.get(i);
      if (n == leaf || n.children().size() >= 2) {
        double adv = rewards.mean(n) - rewards.mean(path.get(start));
        java.util.Arrays.fill(seg, start, i, adv); // nodes start+1..i are seg[start..i-1]
        start = i;
      }
    }
    return seg;
  }

  private SegmentNode shortestCorrect(SubtreeRewards rewards) {
    return rewards.leaves().stream()
        .filter(l -> l.hasReward() && l.reward() >= correct)
        .min(Comparator.comparingInt(SegmentNode::pathLength)) // stable: the first on ties
        .orElse(null);
  }

  private void correctLength(double[] seg, SegmentNode other, SegmentNode shortest, int prompt) {
    SegmentNode k = deepestCommon(other, shortest);
    int after = k.pathLength() - prompt;
    double rs = shortest.pathLength() - prompt - after;
    double ro = other.pathLength() - prompt - after;
    if (ro <= 0) {
      return;
    }
    double factor = 1 - Math.pow(rs / ro, lambda);
    // Nodes deeper than k are exactly the tokens after k: seg[d - 1] belongs to depth d.
    for (int d = k.depth() + 1; d <= other.depth(); d++) {
      seg[d - 1] -= Math.abs(seg[d - 1]) * factor;
    }
  }

  private static SegmentNode deepestCommon(SegmentNode a, SegmentNode b) {
    while (a.depth() > b.depth()) {
      a = a.parent();
    }
    while (b.depth() > a.depth()) {
      b = b.parent();
    }
    while (a != b) {
      a = a.parent();
      b = b.parent();
    }
    return a;
  }
}
