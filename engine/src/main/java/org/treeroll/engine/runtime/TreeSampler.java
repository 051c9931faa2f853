package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.branching.BranchingPolicy;
import org.treeroll.branching.TreeRolloutConfig;
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
 * Segment-wise tree sampling (TreePO) inside the engine.
 *
 * <p>Every live branch of every tree advances together, one token per batched forward step. A
 * branch is a leaf node being written, its page table, its RNG and the distribution of its next
 * token. A step samples every branch's next token, ends the branches that stop, and feeds the
 * others' tokens through the model, which yields their next distributions. When the branches'
 * current segments are full, each tree's policy decides how many children every live node gets;
 * the children share their parent's pages (the first takes over its partially filled last page,
 * the others copy that one page) and its already computed next-token distribution, so the tokens
 * they share are decoded exactly once.
 */
public final class TreeSampler {
  private final Model model;
  private final KvStore kv;
  private final int[] eosIds;
  private final int maxStepTokens;
  private long computedTokens;

  public TreeSampler(Model model, KvStore kv, int[] eosIds, int maxStepTokens) {
    this.model = model;
    this.kv = kv;
    this.eosIds = eosIds.clone();
    this.maxStepTokens = maxStepTokens;
  }

  /** Tokens fed through the model since this sampler was made. */
  public long computedTokens() {
    return computedTokens;
  }

  /** Samples one tree per prompt. Tree {@code i} is seeded from {@code (params.seed(), i)}. */
  public List<RolloutTree> sample(List<int[]> prompts, TreeRolloutConfig cfg,
      BranchingPolicy policy, SamplingParams params) {
    List<TreeState> trees = new ArrayList<>();
    List<Branch> live = new ArrayList<>();
    try {
      for (int i = 0; i < prompts.size(); i++) {
        int[] prompt = prompts.get(i);
        if (prompt.length == 0) {
          throw new TreeRollException("prompt " + i + " is empty");
        }
        if (prompt.length + cfg.maxTokens() > model.config().maxPositionEmbeddings()) {
          throw new TreeRollException("prompt " + i + " has " + prompt.length + " tokens; with max_tokens "
              + cfg.maxTokens() + " it exceeds max_position_embeddings " + model.config().maxPositionEmbeddings());
        }
        long seed = TokenSampler.rngFor(params.seed(), i).nextLong();
        TreeState t = new TreeState(new RolloutTree(i, prompt, 0, seed), new SplittableRandom(seed));
        trees.add(t);
        live.add(new Branch(t, t.tree.root(), new PageTable(kv.pool()), null));
      }
      prefill(live, params);
      for (Branch root : live) {
        root.tree.branch(root, cfg.initialDivergence(), kv);
      }
      live = collectLive(trees);
      while (!live.isEmpty()) {
        step(live, cfg, policy, params);
        live = collectLive(trees);
      }
    } finally {
      for (TreeState t : trees) {
        t.releaseAll();
      }
    }
    return trees.stream().map(t -> t.tree).toList();
  }

  /** Feeds every prompt (in chunks of at most maxStepTokens tokens per step). */
  private void prefill(List<Branch> roots, SamplingParams params) {
    int[] done = new int[roots.size()];
    boolean pending = true;
    while (pending) {
      List<SequenceChunk> chunks = new ArrayList<>();
      List<Branch> owners = new ArrayList<>();
      int budget = maxStepTokens;
      for (int i = 0; i < roots.size() && budget > 0; i++) {
        Branch b = roots.get(i);
        int[] prompt = b.node.tokens();
        if (done[i] == prompt.length) {
          continue;
        }
        int n = Math.min(prompt.length - done[i], budget);
        b.table.reserve(n);
        chunks.add(new SequenceChunk(b.table, Arrays.copyOfRange(prompt, done[i], done[i] + n), false));
        owners.add(b);
        done[i] += n;
        budget -= n;
      }
      NextTokenDistributions d = forward(chunks, params);
      for (int r = 0; r < owners.size(); r++) {
        owners.get(r).setNext(d, r);
      }
      pending = false;
      for (int i = 0; i < roots.size(); i++) {
        pending |= done[i] < roots.get(i).node.tokenCount();
      }
    }
  }

  /** Samples a token for every live branch, feeds the survivors, forks at segment ends. */
  private void step(List<Branch> live, TreeRolloutConfig cfg, BranchingPolicy policy,
      SamplingParams params) {
    List<Branch> feed = new ArrayList<>();
    for (Branch b : live) {
      SampledToken t = TokenSampler.sample(b.next, b.nextRow, params, b.rng);
      b.node.append(t.id(), t.logProb(), t.entropy());
      FinishReason end = stopReason(b, t.id(), cfg, params);
      if (end != null) {
        b.tree.finish(b, end);
      } else {
        feed.add(b);
      }
    }
    if (!feed.isEmpty()) {
      List<SequenceChunk> chunks = new ArrayList<>();
      for (Branch b : feed) {
        b.table.reserve(1);
        chunks.add(new SequenceChunk(b.table, new int[] {b.node.token(b.node.tokenCount() - 1)}, false));
      }
      NextTokenDistributions d = forward(chunks, params);
      for (int r = 0; r < feed.size(); r++) {
        feed.get(r).setNext(d, r);
      }
    }
    // Segments end together: every branch of a step started its segment at the same step.
    for (TreeState t : distinctTrees(feed)) {
      List<Branch> atBoundary = t.live.stream().filter(b -> b.node.tokenCount() == cfg.segmentLength()).toList();
      if (atBoundary.isEmpty()) {
        continue;
      }
      int budget = cfg.childrenAtBoundary(atBoundary.size(), t.finishedThisSegment, t.leaves);
      int[] children = policy.allocate(atBoundary.stream().map(b -> b.node).toList(), budget, t.seeds);
      t.finishedThisSegment = 0;
      for (int i = 0; i < atBoundary.size(); i++) {
        t.branch(atBoundary.get(i), children[i], kv);
      }
    }
  }

  private FinishReason stopReason(Branch b, int token, TreeRolloutConfig cfg, SamplingParams params) {
    if (!params.ignoreEos() && Arrays.stream(eosIds).anyMatch(e -> e == token)) {
      return FinishReason.EOS;
    }
    if (params.isStopToken(token)) {
      return FinishReason.STOP_TOKEN;
    }
    int response = b.node.pathLength() - b.tree.tree.root().tokenCount();
    if (response >= cfg.maxTokens()) {
      return FinishReason.MAX_TOKENS;
    }
    if (b.node.tokenCount() == cfg.segmentLength() && b.node.depth() >= cfg.maxDepth()) {
      return FinishReason.DEPTH_LIMIT;
    }
    return null;
  }

  private NextTokenDistributions forward(List<SequenceChunk> chunks, SamplingParams params) {
    for (SequenceChunk c : chunks) {
      computedTokens += c.tokens().length;
    }
    try (NDManager m = NDManager.newBaseManager(model.device())) {
      return NextTokenDistributions.of(model.forward(chunks, kv, m), params.logprobTemperature());
    }
  }

  private static List<Branch> collectLive(List<TreeState> trees) {
    List<Branch> out = new ArrayList<>();
    for (TreeState t : trees) {
      out.addAll(t.live);
    }
    return out;
  }

  private static List<TreeState> distinctTrees(List<Branch> branches) {
    return branches.stream().map(b -> b.tree).distinct().toList();
  }

  /** A leaf being written. */
  private static final class Branch {
    final TreeState tree;
    final SegmentNode node;
    final PageTable table;
    final SplittableRandom rng;
    NextTokenDistributions next;
    int nextRow;

    Branch(TreeState tree, SegmentNode node, PageTable table, NextTokenDistributions next) {
      this.tree = tree;
      this.node = node;
      this.table = table;
      this.rng = new SplittableRandom(node.seed());
      this.next = next;
    }

    void setNext(NextTokenDistributions d, int row) {
      next = d;
      nextRow = row;
    }
  }

  /** One tree's growing state. */
  private static final class TreeState {
    final RolloutTree tree;
    final SplittableRandom seeds;
    final List<Branch> live = new ArrayList<>();
    int leaves;
    int finishedThisSegment;

    TreeState(RolloutTree tree, SplittableRandom seeds) {
      this.tree = tree;
      this.seeds = seeds;
    }

    /** Replaces {@code parent} by {@code k} children that share its pages and next token. */
    void branch(Branch parent, int k, KvStore kv) {
      live.remove(parent);
      int len = parent.table.length();
      for (int c = 0; c < k; c++) {
        SegmentNode child = tree.addChild(parent.node, seeds.nextLong());
        // The first child inherits the parent's table (and its page tail); the others fork it.
        PageTable table = c == 0 ? parent.table : parent.table.fork(len, false, kv);
        Branch b = new Branch(this, child, table, parent.next);
        b.nextRow = parent.nextRow;
        live.add(b);
      }
    }

    void finish(Branch b, FinishReason reason) {
      b.node.finish(reason);
      b.table.release();
      live.remove(b);
      leaves++;
      finishedThisSegment++;
    }

    void releaseAll() {
      for (Branch b : live) {
        b.table.release();
      }
      live.clear();
    }
  }
}
