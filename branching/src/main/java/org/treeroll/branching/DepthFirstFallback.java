package org.treeroll.branching;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * TreePO's fallback when a tree ran out of live paths before its leaf budget: take a finished
 * answer (one with a final answer first, then one that ended with EOS, random among equals), cut
 * it back to a random segment boundary on its path and fork there, so the new answers join that
 * ancestor's subgroup. Cuts stay on segment boundaries: misaligned cuts hurt in TreePO's trials.
 * All missing answers are placed at once, b per cut (the best-ranked answers first), so they
 * decode together instead of one fallback round after another.
 */
final class DepthFirstFallback {
  private DepthFirstFallback() {}

  static List<ForkPoint> forks(RolloutTree tree, int missing, int branchingFactor, SplittableRandom rng) {
    List<SegmentNode> leaves = tree.leaves();
    if (leaves.isEmpty() || missing < 1) {
      return List.of(ForkPoint.atEnd(tree.root(), Math.max(1, Math.min(missing, branchingFactor))));
    }
    // Rank by finish reason with random noise: the noise breaks ties only.
    record Ranked(SegmentNode leaf, int rank, double noise) {}
    List<Ranked> ranked = new ArrayList<>();
    for (SegmentNode l : leaves) {
      ranked.add(new Ranked(l, rank(l.finishReason()), rng.nextDouble()));
    }
    ranked.sort(Comparator.comparingInt(Ranked::rank).thenComparingDouble(Ranked::noise));
    int b = Math.max(1, branchingFactor);
    List<ForkPoint> out = new ArrayList<>();
    for (int i = 0, left = missing; left > 0; i++, left -= b) {
      List<SegmentNode> path = RolloutTree.path(ranked.get(i % ranked.size()).leaf());
      // Any boundary strictly before the leaf's end: the root (a fresh answer) or an ancestor's end.
      SegmentNode cut = path.get(rng.nextInt(path.size() - 1));
      out.add(ForkPoint.atEnd(cut, Math.min(left, b)));
    }
    return out;
  }

  private static int rank(FinishReason r) {
    if (r == null) {
      return 4;
    }
    return switch (r) {
      case ANSWERED -> 0;
      case EOS, STOP_TOKEN, STOP_STRING -> 1;
      case MAX_TOKENS, DEPTH_LIMIT -> 2;
      case REPETITION -> 3;
    };
  }
}
