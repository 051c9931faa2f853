package org.treeroll.branching;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * ROSE's semantic branching. Answers grow in rounds and never fork at segment boundaries; each
 * round, per prompt, a new answer starts from the root with probability epsilon, otherwise from
 * the (answer, token) with the highest branching score among the answers so far: the prefix
 * before that token is kept and the token is resampled.
 *
 * <p>The score of a token position uses the top-k candidates there, with probabilities p_i and
 * unit input embeddings e_i: F = sum over pairs i != j of p_i p_j cos(e_i, e_j) = |E^T p|^2 -
 * |p|^2, the probability mass on candidates that mean nearly the same; {@code cosine} scores -F,
 * {@code cosine-entropy} (ROSE's default) scores -F * H with H the token's entropy. Positions
 * that already start a node (earlier fork points, segment starts) are not candidates, so a
 * position is resampled at most once.
 */
public final class RoseSemanticPolicy implements BranchingPolicy {
  /** The branching score of a token position. */
  public enum Score { COSINE, COSINE_ENTROPY }

  private final double epsilon;
  private final Score score;
  private final int topK;
  private final int perRound;

  public RoseSemanticPolicy(double epsilon, Score score, int topK, int perRound) {
    this.epsilon = epsilon;
    this.score = score;
    this.topK = topK;
    this.perRound = perRound;
  }

  @Override
  public String name() {
    return "rose";
  }

  @Override
  public int candidatesPerToken() {
    return topK;
  }

  @Override
  public int[] allocate(List<SegmentNode> live, int budget, SplittableRandom rng) {
    return Allocation.extrasInOrder(live.size(), new int[0], budget, 1); // every live node just continues
  }

  @Override
  public List<ForkPoint> refill(RolloutTree tree, int missing, BranchingContext context, SplittableRandom rng) {
    List<ForkPoint> out = new ArrayList<>();
    Set<Long> taken = new HashSet<>();
    int fromRoot = 0;
    for (int i = 0; i < Math.min(perRound, missing); i++) {
      ForkPoint best = rng.nextDouble() < epsilon ? null : best(tree, context, taken);
      if (best == null) {
        fromRoot++;
      } else {
        out.add(best);
      }
    }
    if (fromRoot > 0) {
      out.add(ForkPoint.atEnd(tree.root(), fromRoot));
    }
    return out;
  }

  /** The highest-scoring position not yet taken, or null when no position has candidates. */
  private ForkPoint best(RolloutTree tree, BranchingContext context, Set<Long> taken) {
    SegmentNode bestNode = null;
    int bestAt = -1;
    double bestScore = Double.NEGATIVE_INFINITY;
    for (SegmentNode n : tree.nodes()) {
      if (n.isRootNode() || n.candidatesPerToken() == 0) {
        continue;
      }
      for (int t = 1; t < n.tokenCount(); t++) {
        if (taken.contains(key(n, t))) {
          continue;
        }
        double s = score(n, t, context);
        if (s > bestScore) {
          bestScore = s;
          bestNode = n;
          bestAt = t;
        }
      }
    }
    if (bestNode == null) {
      return null;
    }
    taken.add(key(bestNode, bestAt));
    return new ForkPoint(bestNode, bestAt, 1);
  }

  /** The branching score of token {@code t} of {@code n}. */
  public double score(SegmentNode n, int t, BranchingContext context) {
    double f = similarMass(n.candidateIds(t), n.candidateLogProbs(t), context);
    return score == Score.COSINE ? -f : -f * n.entropy(t);
  }

  /** F = |E^T p|^2 - |p|^2 over the candidates, with unit embedding rows E. */
  public static double similarMass(int[] ids, float[] logProbs, BranchingContext context) {
    double[] v = null;
    double pp = 0;
    for (int i = 0; i < ids.length; i++) {
      double p = Math.exp(logProbs[i]);
      float[] e = context.unitEmbedding(ids[i]);
      if (v == null) {
        v = new double[e.length];
      }
      for (int d = 0; d < e.length; d++) {
        v[d] += p * e[d];
      }
      pp += p * p;
    }
    if (v == null) {
      return 0;
    }
    double vv = 0;
    for (double x : v) {
      vv += x * x;
    }
    return vv - pp;
  }

  private static long key(SegmentNode n, int t) {
    return ((long) n.id() << 32) | t;
  }
}
