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
import it.unimi.dsi.fastutil.ints.IntArrayList;
import org.treeroll.kvcache.PageTable;
import org.treeroll.kvcache.RadixKvCache;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * Segment-wise tree sampling (TreePO) inside the engine.
 *
 * <p>A branch is a leaf node being written, its page table, its RNG and the distribution of its
 * next token. Every live branch of every tree advances together, one token per batched forward
 * step: each samples its next token, the ones that stop end, and the others' tokens are fed
 * through the model, which yields their next distributions. When a branch's segment is full its
 * tree's policy decides how many children it gets; the children share its pages (the first
 * takes over its partially filled last page, the others copy that one page) and its computed
 * next-token distribution, so tokens shared by several answers are fed exactly once.
 *
 * <p>Memory pressure: a branch that needs a page when none is free gives up its page table and
 * waits; so does a child whose fork finds no page to copy into. A waiting branch keeps its
 * tokens and RNG; when pages free up its whole path is recomputed in one prefill and it goes on
 * as if nothing happened. The prompts start as waiting branches, so prefill is the same path.
 *
 * <p>With a {@link RadixKvCache}, every path computed on resume (prompts first of all) is cached:
 * a later prompt or resumed path sharing a prefix with cached content reuses its pages, and the
 * cache gives its least recently used entries back before any branch is suspended.
 */
public final class TreeSampler {
  private final Model model;
  private final KvStore kv;
  private final int[] eosIds;
  private final int maxStepTokens;
  private final RadixKvCache cache; // null: no reuse across requests
  private long computedTokens;
  private long suspensions;
  private long hitTokens;

  public TreeSampler(Model model, KvStore kv, int[] eosIds, int maxStepTokens) {
    this(model, kv, eosIds, maxStepTokens, null);
  }

  /** @param cache prefix cache over {@code kv}'s pool, or null for none */
  public TreeSampler(Model model, KvStore kv, int[] eosIds, int maxStepTokens, RadixKvCache cache) {
    if (cache != null && cache.pool() != kv.pool()) {
      throw new IllegalArgumentException("the cache must index the KV store's own page pool");
    }
    this.model = model;
    this.kv = kv;
    this.eosIds = eosIds.clone();
    this.maxStepTokens = maxStepTokens;
    this.cache = cache;
  }

  /** Tokens fed through the model since this sampler was made (recomputation included). */
  public long computedTokens() {
    return computedTokens;
  }

  /** Prompt and path tokens whose KV came from the prefix cache instead of being computed. */
  public long cacheHitTokens() {
    return hitTokens;
  }

  /** Times a branch gave up its pages for lack of memory. */
  public long suspensions() {
    return suspensions;
  }

  /** Samples one tree per prompt. Tree {@code i} is seeded from {@code (params.seed(), i)}. */
  public List<RolloutTree> sample(List<int[]> prompts, TreeRolloutConfig cfg,
      BranchingPolicy policy, SamplingParams params) {
    int longest = prompts.stream().mapToInt(p -> p.length).max().orElse(0);
    int pagesPerAnswer = kv.pool().pagesFor(longest + cfg.maxTokens()) + 1;
    if (pagesPerAnswer > kv.pool().capacity()) {
      throw new TreeRollException("KV budget of " + kv.pool().capacity() + " pages is too small: one answer of "
          + (longest + cfg.maxTokens()) + " tokens needs " + pagesPerAnswer);
    }
    List<TreeState> trees = new ArrayList<>();
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
        long version = cache == null ? 0 : cache.weightVersion();
        TreeState t = new TreeState(new RolloutTree(i, prompt, version, seed, policy.name()), new SplittableRandom(seed));
        t.live.add(new Branch(t, t.tree.root(), null));
        trees.add(t);
      }
      while (true) {
        List<Branch> live = collectLive(trees);
        if (live.isEmpty()) {
          break;
        }
        resume(live.stream().filter(b -> b.table == null).toList(), cfg, policy, params);
        // Resuming may have forked branches: take the live set anew.
        step(collectLive(trees).stream().filter(b -> b.table != null).toList(), cfg, policy, params);
      }
    } finally {
      for (TreeState t : trees) {
        t.releaseAll();
      }
    }
    trees.forEach(t -> t.tree.renumber());
    return trees.stream().map(t -> t.tree).toList();
  }

  /** Recomputes the KV of waiting branches' whole paths, as many as free pages allow. */
  private void resume(List<Branch> waiting, TreeRolloutConfig cfg, BranchingPolicy policy,
      SamplingParams params) {
    List<Branch> resumed = new ArrayList<>();
    List<int[]> paths = new ArrayList<>();
    IntArrayList reused = new IntArrayList();
    int promised = 0; // pages the branches resumed so far will still take
    for (Branch b : waiting) {
      int[] path = pathTokens(b.node);
      PageTable table = reuseCached(path);
      int pages = kv.pool().pagesFor(path.length) + 1 - table.pageCount(); // +1: room to decode on
      if (!makeRoom(promised + pages)) {
        table.release();
        break; // first come, first served: later branches wait behind this one
      }
      promised += pages;
      b.table = table;
      resumed.add(b);
      paths.add(path);
      reused.add(table.length());
    }
    int[] done = reused.toIntArray();
    for (boolean pending = !resumed.isEmpty(); pending; ) {
      List<SequenceChunk> chunks = new ArrayList<>();
      List<Branch> owners = new ArrayList<>();
      int budget = maxStepTokens;
      for (int i = 0; i < resumed.size() && budget > 0; i++) {
        int[] path = paths.get(i);
        if (done[i] == path.length) {
          continue;
        }
        int n = Math.min(path.length - done[i], budget);
        Branch b = resumed.get(i);
        b.table.reserve(n);
        chunks.add(new SequenceChunk(b.table, Arrays.copyOfRange(path, done[i], done[i] + n), false));
        owners.add(b);
        done[i] += n;
        budget -= n;
      }
      NextTokenDistributions d = forward(chunks, params);
      for (int r = 0; r < owners.size(); r++) {
        owners.get(r).setNext(d, r);
      }
      pending = false;
      for (int i = 0; i < resumed.size(); i++) {
        pending |= done[i] < paths.get(i).length;
      }
    }
    if (cache != null) {
      for (int i = 0; i < resumed.size(); i++) {
        int[] path = paths.get(i);
        PageTable table = resumed.get(i).table;
        int[] slots = new int[path.length];
        for (int t = 0; t < path.length; t++) {
          slots[t] = table.slot(t);
        }
        cache.insert(cache.root(), path, slots);
      }
    }
    atBoundaries(resumed, cfg, policy);
  }

  /**
   * A page table holding the longest cached prefix of {@code path} (never all of it: the last
   * token must run to give the next distribution); empty without a cache.
   */
  private PageTable reuseCached(int[] path) {
    if (cache == null) {
      return new PageTable(kv.pool());
    }
    RadixKvCache.Match m = cache.match(path);
    int reuse = Math.min(m.length(), path.length - 1);
    boolean partial = reuse % kv.pool().pageSize() != 0;
    if (reuse == 0 || (partial && !makeRoom(1))) {
      return new PageTable(kv.pool());
    }
    hitTokens += reuse;
    return PageTable.prefix(kv.pool(), k -> cache.pageAt(m.node(), k), reuse, false, kv);
  }

  /** Whether {@code pages} pages are free, after evicting cached prefixes if needed. */
  private boolean makeRoom(int pages) {
    return kv.pool().freePages() >= pages || (cache != null && cache.evictUntilFree(pages));
  }

  /** Samples a token for every active branch, ends the stopped ones, feeds the rest. */
  private void step(List<Branch> active, TreeRolloutConfig cfg, BranchingPolicy policy,
      SamplingParams params) {
    List<Branch> feed = new ArrayList<>();
    for (Branch b : active) {
      SampledToken t = TokenSampler.sample(b.next, b.nextRow, params, b.rng);
      b.node.append(t.id(), t.logProb(), t.entropy());
      FinishReason end = stopReason(b, t.id(), cfg, params);
      if (end != null) {
        b.tree.finish(b, end);
      } else {
        feed.add(b);
      }
    }
    List<SequenceChunk> chunks = new ArrayList<>();
    List<Branch> fed = new ArrayList<>();
    for (Branch b : feed) {
      boolean needsPage = b.table.length() == b.table.capacity();
      if (needsPage && !makeRoom(1)) {
        b.suspend(); // its sampled token is recomputed with the rest of its path on resume
        suspensions++;
        continue;
      }
      b.table.reserve(1);
      chunks.add(new SequenceChunk(b.table, new int[] {b.node.token(b.node.tokenCount() - 1)}, false));
      fed.add(b);
    }
    if (!chunks.isEmpty()) {
      NextTokenDistributions d = forward(chunks, params);
      for (int r = 0; r < fed.size(); r++) {
        fed.get(r).setNext(d, r);
      }
    }
    atBoundaries(fed, cfg, policy);
  }

  /**
   * Forks the branches whose segment is full (and the prompts, which fork into the initial
   * divergence), one tree at a time.
   */
  private void atBoundaries(List<Branch> ready, TreeRolloutConfig cfg, BranchingPolicy policy) {
    for (TreeState t : ready.stream().map(b -> b.tree).distinct().toList()) {
      for (Branch root : ready.stream().filter(b -> b.tree == t && b.node.isRootNode()).toList()) {
        branch(t, root, cfg.initialDivergence());
      }
      List<Branch> full = ready.stream()
          .filter(b -> b.tree == t && !b.node.isRootNode() && b.node.tokenCount() == cfg.segmentLength())
          .toList();
      if (full.isEmpty()) {
        continue;
      }
      // Live branches elsewhere in their segment (waiting ones) will each end as a leaf too.
      int elsewhere = t.live.size() - full.size();
      int budget = Math.max(full.size(), Math.min(
          cfg.childrenAtBoundary(full.size(), t.finishedThisSegment, t.leaves),
          cfg.leafBudget() - t.leaves - elsewhere));
      int[] children = policy.allocate(full.stream().map(b -> b.node).toList(), budget, t.seeds);
      t.finishedThisSegment = 0;
      for (int i = 0; i < full.size(); i++) {
        branch(t, full.get(i), children[i]);
      }
    }
  }

  /**
   * Replaces {@code parent} by {@code k} children that share its pages and next-token
   * distribution. A child whose fork finds no free page to copy into waits for memory.
   */
  private void branch(TreeState t, Branch parent, int k) {
    t.live.remove(parent);
    int len = parent.table.length();
    for (int c = 0; c < k; c++) {
      SegmentNode child = t.tree.addChild(parent.node, t.seeds.nextLong());
      PageTable table = null;
      if (c == 0) {
        table = parent.table; // the first child inherits the table and its page tail
      } else if (len % kv.pool().pageSize() == 0 || makeRoom(1)) {
        table = parent.table.fork(len, false, kv);
      }
      Branch b = new Branch(t, child, table);
      if (table != null) {
        b.setNext(parent.next, parent.nextRow);
      }
      t.live.add(b);
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

  private static int[] pathTokens(SegmentNode node) {
    return RolloutTree.path(node).stream().flatMapToInt(n -> Arrays.stream(n.tokens())).toArray();
  }

  private static List<Branch> collectLive(List<TreeState> trees) {
    List<Branch> out = new ArrayList<>();
    for (TreeState t : trees) {
      out.addAll(t.live);
    }
    return out;
  }

  /** A leaf being written; without a page table it waits for memory. */
  private static final class Branch {
    final TreeState tree;
    final SegmentNode node;
    final SplittableRandom rng;
    PageTable table;
    NextTokenDistributions next;
    int nextRow;

    Branch(TreeState tree, SegmentNode node, PageTable table) {
      this.tree = tree;
      this.node = node;
      this.table = table;
      this.rng = new SplittableRandom(node.seed());
    }

    void setNext(NextTokenDistributions d, int row) {
      next = d;
      nextRow = row;
    }

    void suspend() {
      table.release();
      table = null;
      next = null;
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

    void finish(Branch b, FinishReason reason) {
      b.node.finish(reason);
      b.table.release();
      live.remove(b);
      leaves++;
      finishedThisSegment++;
    }

    void releaseAll() {
      for (Branch b : live) {
        if (b.table != null) {
          b.table.release();
        }
      }
      live.clear();
    }
  }
}
