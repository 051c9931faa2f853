package org.treeroll.engine.scheduler;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.treeroll.branching.ForkPoint;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.TokenSampler;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * How trees grow (TreePO's segment-wise sampling): every live branch of every tree samples one
 * token per step; the ones that stop end, the others' tokens are fed through the model in one
 * batched step, which yields their next distributions. When a branch's segment is full its
 * tree's policy decides how many children it gets; the children share its pages (the first takes
 * over its partially filled last page, the others copy that one page) and its computed next
 * distribution, so tokens shared by several answers are fed exactly once.
 *
 * <p>Pruning: an answer ends early when its tail is a loop ({@link FinishReason#REPETITION}), or
 * at a segment boundary when it already holds a complete final answer
 * ({@link FinishReason#ANSWERED}). When a tree has no live branch but fewer answers than its
 * budget, its policy names fork points on the paths so far and new answers start there.
 */
final class TreeGrowth {
  private final KvMemory memory;
  private final ForwardPass forward;
  private final int[] eosIds;
  private final Counters total;

  TreeGrowth(KvMemory memory, ForwardPass forward, int[] eosIds, Counters total) {
    this.memory = memory;
    this.forward = forward;
    this.eosIds = eosIds.clone();
    this.total = total;
  }

  /** Samples a token for every branch that holds pages, ends the stopped ones, feeds the rest. */
  void step(List<Branch> ready) {
    for (Branch b : ready) {
      if (Float.isNaN(b.next.entropies()[b.nextRow]) && b.tree.run.failure == null) {
        // NaN or Inf logits (poisoned weights or activations): sampling from them means nothing.
        b.tree.run.failure = new TreeRollException("the model produced non-finite logits for tree " + b.tree.tree.id()
            + " after " + b.response.size() + " response tokens; its weights or activations hold NaN or Inf");
      }
    }
    List<Branch> active = ready.stream().filter(b -> b.tree.run.failure == null).toList();
    // Draws are independent (each branch has its own RNG; distributions are read-only), so they
    // run on every core: at 64 rows of a 152k vocabulary they take ~10 ms on one.
    SampledToken[] drawn = new SampledToken[active.size()];
    IntStream.range(0, drawn.length).parallel().forEach(i -> {
      Branch b = active.get(i);
      drawn[i] = TokenSampler.sample(b.next, b.nextRow, b.tree.run.params, b.rng);
    });
    List<Branch> feed = new ArrayList<>();
    for (int i = 0; i < drawn.length; i++) {
      Branch b = active.get(i);
      RolloutRun run = b.tree.run;
      SampledToken t = drawn[i];
      if (run.params.logprobs() > 0) {
        b.node.append(t.id(), t.logProb(), t.entropy(), t.topIds(), t.topLogProbs());
      } else {
        b.node.append(t.id(), t.logProb(), t.entropy());
      }
      b.response.add(t.id());
      run.tokenSampled(b.tree.tree, b.node);
      FinishReason end = stopReason(b, t.id(), run.cfg, run.params);
      if (end != null) {
        finish(b, end);
      } else {
        feed.add(b);
      }
    }
    List<SequenceChunk> chunks = new ArrayList<>();
    List<Branch> fed = new ArrayList<>();
    for (Branch b : feed) {
      boolean needsPage = b.table.length() == b.table.capacity();
      if (needsPage && !memory.makeRoom(1)) {
        memory.suspend(b); // its sampled token is recomputed with the rest of its path on resume
        continue;
      }
      b.table.reserve(1);
      chunks.add(new SequenceChunk(b.table, new int[] {b.lastToken()}, false));
      fed.add(b);
    }
    if (!chunks.isEmpty()) {
      NextTokenDistributions d = forward.sample(chunks, fed, true);
      for (int r = 0; r < fed.size(); r++) {
        fed.get(r).setNext(d, r);
      }
    }
    atBoundaries(fed);
  }

  private FinishReason stopReason(Branch b, int token, TreeRolloutConfig cfg, SamplingParams params) {
    if (!params.ignoreEos() && contains(eosIds, token)) {
      return FinishReason.EOS;
    }
    if (params.isStopToken(token)) {
      return FinishReason.STOP_TOKEN;
    }
    if (cfg.repetition().endsInLoop(b.response)) {
      return FinishReason.REPETITION;
    }
    int response = b.response.size();
    if (response >= cfg.maxTokens()) {
      return FinishReason.MAX_TOKENS;
    }
    // Depth counted in segments decoded, so a path split by a mid-segment fork is not cut early.
    if (response >= (long) cfg.segmentLength() * cfg.maxDepth()) {
      return FinishReason.DEPTH_LIMIT;
    }
    return null;
  }

  private static boolean contains(int[] ids, int id) {
    for (int x : ids) {
      if (x == id) {
        return true;
      }
    }
    return false;
  }

  /** Ends an answer: caches its path for later forks, frees its pages, tells the caller. */
  void finish(Branch b, FinishReason reason) {
    TreeState t = b.tree;
    memory.cachePath(b.pathTokens(), b.table); // before its lock goes: the prefix stays cached
    memory.release(b);
    b.node.finish(reason);
    t.live.remove(b);
    t.leaves++;
    t.finishedThisSegment++;
    t.run.leafFinished(t.tree, b.node);
  }

  /**
   * Forks the branches whose segment is full (and the prompts, which fork into the initial
   * divergence), one tree at a time.
   */
  void atBoundaries(List<Branch> ready) {
    for (TreeState t : ready.stream().map(b -> b.tree).distinct().toList()) {
      RolloutRun run = t.run;
      TreeRolloutConfig cfg = run.cfg;
      for (Branch root : ready.stream().filter(b -> b.tree == t && b.node.isRootNode()).toList()) {
        branch(t, root, cfg.initialDivergence());
      }
      List<Branch> full = new ArrayList<>();
      for (Branch b : ready) {
        if (b.tree != t || b.node.isRootNode() || b.node.tokenCount() != cfg.segmentLength()) {
          continue;
        }
        if (cfg.stopOnAnswer() && run.finalAnswer(b.response.toIntArray(), false) != null) {
          finish(b, FinishReason.ANSWERED); // the outcome is settled: decoding on changes nothing
        } else {
          full.add(b);
        }
      }
      if (full.isEmpty()) {
        continue;
      }
      // Live branches elsewhere in their segment (waiting ones) will each end as a leaf too.
      int elsewhere = t.live.size() - full.size();
      int budget = Math.max(full.size(), Math.min(
          cfg.childrenAtBoundary(full.size(), t.finishedThisSegment, t.leaves),
          cfg.leafBudget() - t.leaves - elsewhere));
      int[] children = run.policy.allocate(full.stream().map(b -> b.node).toList(), budget, t.seeds);
      t.finishedThisSegment = 0;
      for (int i = 0; i < full.size(); i++) {
        branch(t, full.get(i), children[i]);
      }
    }
  }

  /**
   * Replaces {@code parent} by {@code k} children that share its pages, its cache lock and its
   * next-token distribution. A child whose fork finds no free page to copy into waits for memory.
   */
  private void branch(TreeState t, Branch parent, int k) {
    t.live.remove(parent);
    int len = parent.table.length();
    for (int c = 0; c < k; c++) {
      SegmentNode child = t.tree.addChild(parent.node, t.seeds.nextLong());
      PageTable table = null;
      if (c == 0) {
        table = parent.table; // the first child inherits the table and its page tail
      } else if (len % memory.pool().pageSize() == 0 || memory.makeRoom(1)) {
        table = parent.table.fork(len, false, memory.kv());
      }
      Branch b = new Branch(t, child, table, c == 0 ? parent.response : parent.response.clone());
      if (c == 0) {
        b.locked = parent.locked;
      } else if (table != null) {
        memory.lock(b, parent.locked);
      }
      if (table != null) {
        b.setNext(parent.next, parent.nextRow);
      }
      t.live.add(b);
    }
  }

  /**
   * Starts new answers in a tree with no live branch and fewer answers than its budget, where its
   * policy says; they wait for pages like suspended branches, and resume reuses the cached path.
   */
  void refill(TreeState t) {
    RolloutRun run = t.run;
    int missing = run.cfg.leafBudget() - t.leaves;
    if (t.done || !t.live.isEmpty()) {
      return;
    }
    if (missing <= 0 || t.tree.leaves().isEmpty() || t.refillsLeft-- <= 0) {
      finishTree(t);
      return;
    }
    // The policy's offsets count from the nodes as they are now. Splitting a node at offset k
    // moves its first k tokens into a new head node, so a node's forks are made deepest first and
    // each shallower one is made in the head the previous split left.
    List<ForkPoint> forks = run.policy.refill(t.tree, missing, run, t.seeds);
    Map<SegmentNode, List<ForkPoint>> byNode = new IdentityHashMap<>();
    List<SegmentNode> order = new ArrayList<>();
    for (ForkPoint f : forks) {
      byNode.computeIfAbsent(f.node(), n -> {
        order.add(n);
        return new ArrayList<>();
      }).add(f);
    }
    for (SegmentNode node : order) {
      List<ForkPoint> here = new ArrayList<>(byNode.get(node));
      here.sort((a, b) -> Integer.compare(b.offset(), a.offset()));
      SegmentNode target = node;
      for (ForkPoint f : here) {
        SegmentNode at = target;
        if (f.offset() < at.tokenCount()) {
          at = t.tree.splitAt(at, f.offset());
          target = at;
        } else if (at.isLeaf() && !at.isRootNode()) {
          throw new IllegalStateException(run.policy.name() + " forked after the end of answer " + at.id());
        }
        int n = Math.min(f.children(), run.cfg.leafBudget() - t.leaves - t.live.size());
        IntArrayList response = new IntArrayList(at.isRootNode() ? new int[0] : RolloutTree.responseTokens(at));
        for (int c = 0; c < n; c++) {
          SegmentNode child = t.tree.addChild(at, t.seeds.nextLong());
          child.markRefilled();
          t.live.add(new Branch(t, child, null, response.clone()));
        }
        total.refills++;
        run.counters.refills++;
      }
    }
    t.finishedThisSegment = 0;
    if (t.live.isEmpty()) {
      finishTree(t); // the policy found nowhere to fork
    }
  }

  /** A tree with no live branch that will not grow again: numbered for good and reported. */
  private static void finishTree(TreeState t) {
    t.done = true;
    t.tree.renumber();
    t.run.treeFinished(t.tree);
  }
}
