package org.treeroll.branching;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * Answer-level semantic entropy: answers are grouped into meaning classes by their normalised
 * final answers, and new answers fork from the node whose answers disagree most, the entropy of
 * the class frequencies among the leaves below it. Answers grow in rounds, like ROSE: no forks at
 * segment boundaries; each refill forks up to b children at one node. A node with fewer than two
 * answers below has no estimate of its own and takes its nearest such ancestor's; ties are broken
 * at random. Answers without a final answer form one class of their own.
 */
public final class SemanticEntropyPolicy implements BranchingPolicy {
  static final String NO_ANSWER = "\u2205";

  @Override
  public String name() {
    return "semantic-entropy";
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    return Allocation.extrasInOrder(live.size(), new int[0], budget, 1); // every live node just continues
  }

  @Override
  public List<ForkPoint> refill(RolloutTree tree, int missing, BranchingContext context, SplittableRandom rng) {
    Map<SegmentNode, Double> entropy = new IdentityHashMap<>();
    fill(tree.root(), context, entropy, 0);
    List<SegmentNode> best = new ArrayList<>();
    double top = Double.NEGATIVE_INFINITY;
    for (var e : entropy.entrySet()) {
      if (e.getKey().isLeaf()) {
        continue; // an ended answer cannot go on
      }
      if (e.getValue() > top + 1e-12) {
        top = e.getValue();
        best.clear();
      }
      if (Math.abs(e.getValue() - top) <= 1e-12) {
        best.add(e.getKey());
      }
    }
    best.sort((a, b) -> Integer.compare(a.id(), b.id())); // identity maps have no stable order
    SegmentNode at = best.isEmpty() ? tree.root() : best.get(rng.nextInt(best.size()));
    return List.of(ForkPoint.atEnd(at, Math.min(missing, Math.max(1, context.branchingFactor()))));
  }

  /** Returns the classes of the leaves below {@code n}; records each node's entropy. */
  private static List<String> fill(SegmentNode n, BranchingContext context, Map<SegmentNode, Double> out,
      double inherited) {
    if (n.isLeaf() && !n.isRootNode()) {
      String c = context.answerClass(n);
      out.put(n, inherited);
      return List.of(c == null ? NO_ANSWER : c);
    }
    List<String> below = new ArrayList<>();
    List<SegmentNode> kids = n.children();
    // The node's own estimate needs its leaves first, so compute the children with a provisional
    // inherited value and fix it afterwards.
    Map<SegmentNode, Double> scratch = new IdentityHashMap<>();
    for (SegmentNode c : kids) {
      below.addAll(fill(c, context, scratch, Double.NaN));
    }
    double own = below.size() >= 2 ? semanticEntropy(below) : inherited;
    out.put(n, own);
    for (var e : scratch.entrySet()) {
      out.put(e.getKey(), Double.isNaN(e.getValue()) ? own : e.getValue());
    }
    return below;
  }

  /** Entropy (nats) of the class frequencies of {@code classes}. */
  public static double semanticEntropy(List<String> classes) {
    Map<String, Integer> counts = new HashMap<>();
    for (String c : classes) {
      counts.merge(c, 1, Integer::sum);
    }
    double h = 0;
    for (int k : counts.values()) {
      double p = (double) k / classes.size();
      h -= p * Math.log(p);
    }
    return h;
  }
}
