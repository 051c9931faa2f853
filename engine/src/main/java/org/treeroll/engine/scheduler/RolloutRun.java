package org.treeroll.engine.scheduler;

import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.treeroll.branching.BranchingContext;
import org.treeroll.branching.BranchingPolicy;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/** One rollout request: its settings, its trees, the context its policy sees, its future. */
final class RolloutRun implements BranchingContext {
  final List<int[]> prompts;
  final int firstTreeId;
  final TreeRolloutConfig cfg;
  final BranchingPolicy policy;
  final SamplingParams params;
  final RolloutHooks hooks;
  final CompletableFuture<List<RolloutTree>> done = new CompletableFuture<>();
  final List<TreeState> trees = new ArrayList<>();
  final Counters counters = new Counters();
  private final Model model;
  private final Int2ObjectOpenHashMap<float[]> embeddings = new Int2ObjectOpenHashMap<>();
  /** What a hook of this request threw: the request fails alone, before the next step. */
  Throwable failure;

  RolloutRun(List<int[]> prompts, int firstTreeId, TreeRolloutConfig cfg, BranchingPolicy policy,
      SamplingParams params, RolloutHooks hooks, Model model) {
    this.prompts = prompts;
    this.firstTreeId = firstTreeId;
    this.cfg = cfg;
    this.policy = policy;
    this.params = params;
    this.hooks = hooks;
    this.model = model;
  }

  boolean finished() {
    return trees.stream().allMatch(t -> t.done);
  }

  @Override
  public int branchingFactor() {
    return cfg.branchingFactor();
  }

  @Override
  public float[] unitEmbedding(int token) {
    return embeddings.computeIfAbsent(token, t -> {
      float[] e = model.inputEmbedding(t);
      double norm = 0;
      for (float v : e) {
        norm += v * v;
      }
      float inv = norm == 0 ? 0 : (float) (1 / Math.sqrt(norm));
      for (int i = 0; i < e.length; i++) {
        e[i] *= inv;
      }
      return e;
    });
  }

  @Override
  public String answerClass(SegmentNode leaf) {
    return finalAnswer(RolloutTree.responseTokens(leaf), true);
  }

  /** {@link RolloutHooks#finalAnswer}, or null once a hook of this request has thrown. */
  String finalAnswer(int[] response, boolean finished) {
    if (failure == null) {
      try {
        return hooks.finalAnswer(response, finished);
      } catch (RuntimeException e) {
        failure = e;
      }
    }
    return null;
  }

  /** {@link RolloutHooks#treeFinished}, unless a hook of this request has thrown. */
  void treeFinished(RolloutTree tree) {
    if (failure == null) {
      try {
        hooks.treeFinished(tree);
      } catch (RuntimeException e) {
        failure = e;
      }
    }
  }

  /** {@link RolloutHooks#tokenSampled}, unless a hook of this request has thrown. */
  void tokenSampled(RolloutTree tree, SegmentNode node) {
    if (failure == null) {
      try {
        hooks.tokenSampled(tree, node);
      } catch (RuntimeException e) {
        failure = e;
      }
    }
  }

  /** {@link RolloutHooks#leafFinished}, unless a hook of this request has thrown. */
  void leafFinished(RolloutTree tree, SegmentNode leaf) {
    if (failure == null) {
      try {
        hooks.leafFinished(tree, leaf);
      } catch (RuntimeException e) {
        failure = e;
      }
    }
  }
}
