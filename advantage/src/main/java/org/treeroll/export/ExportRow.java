package org.treeroll.export;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.advantage.PathAdvantage;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * One exported answer, in trainer terms. Every exporter writes these same values, so formats only
 * differ in encoding. Arrays are owned by the row.
 *
 * @param uid groups the answers of one prompt (verl's {@code uid}): {@code <weight_version>-<tree_id>}
 * @param prompts prompt token ids
 * @param responses response token ids of the path
 * @param responseMask 1 for tokens to learn from; all 0 when the answer has no reward
 * @param oldLogProbs the sampler's log-prob of each response token
 * @param advantages per response token
 * @param tokenLevelScores the reward on the last response token, 0 elsewhere (all 0 without reward)
 * @param segmentEnds response offset (exclusive) where each node of the path ends
 * @param segmentAdvantages one per node of the path
 * @param nodeIds ids of the path's nodes after the root, in path order
 * @param reward the answer's reward, NaN when it has none
 * @param rewardError why scoring failed, or null
 * @param finishReason why the answer ended, lower case, or null
 */
public record ExportRow(String uid, int treeId, int leafId, long weightVersion, String policy, String estimator,
    int[] prompts, int[] responses, byte[] responseMask, float[] oldLogProbs, float[] advantages,
    float[] tokenLevelScores, int[] segmentEnds, double[] segmentAdvantages, int[] nodeIds, double reward,
    String rewardError, String finishReason) {

  public static ExportRow of(PathAdvantage p, String estimator) {
    RolloutTree tree = p.tree();
    SegmentNode leaf = p.leaf();
    int n = p.responseLength();
    float[] scores = new float[n];
    if (p.included() && n > 0) {
      scores[n - 1] = (float) leaf.reward();
    }
    int[] nodeIds = RolloutTree.path(leaf).stream().skip(1).mapToInt(SegmentNode::id).toArray();
    return new ExportRow(uid(tree), tree.id(), leaf.id(), tree.weightVersion(), tree.policy(), estimator,
        tree.prompt(), RolloutTree.responseTokens(leaf), p.responseMask(), RolloutTree.responseLogProbs(leaf),
        p.tokenAdvantages(), scores, p.segmentEnds(), p.segmentAdvantages(), nodeIds, leaf.reward(),
        leaf.rewardError(), leaf.finishReason() == null ? null : leaf.finishReason().name().toLowerCase(Locale.ROOT));
  }

  /**
   * The rows of a batch, in batch order. Two different trees with the same weight version and id
   * would share a uid and merge into one group in the trainer, so they are refused.
   */
  public static List<ExportRow> of(BatchAdvantages batch) {
    List<ExportRow> rows = new ArrayList<>(batch.paths().size());
    Map<String, RolloutTree> byUid = new HashMap<>();
    for (PathAdvantage p : batch.paths()) {
      RolloutTree seen = byUid.putIfAbsent(uid(p.tree()), p.tree());
      if (seen != null && seen != p.tree()) {
        throw new TreeRollException("export: two trees have tree_id " + p.tree().id() + " and weight_version "
            + p.tree().weightVersion() + "; their answers would share uid '" + uid(p.tree()) + "'");
      }
      rows.add(of(p, batch.estimator()));
    }
    return rows;
  }

  static String uid(RolloutTree tree) {
    return tree.weightVersion() + "-" + tree.id();
  }
}
