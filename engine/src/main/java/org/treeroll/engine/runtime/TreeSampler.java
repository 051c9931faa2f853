package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDManager;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.SplittableRandom;
import org.treeroll.branching.BranchingContext;
import org.treeroll.branching.BranchingPolicy;
import org.treeroll.branching.ForkPoint;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.TokenSampler;
import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;
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
 * cache gives its least recently used entries back before any branch is suspended. Finished
 * answers are cached too, so an answer that later forks from inside one (TreePO's fallback, ROSE's
 * rounds) reuses its pages instead of recomputing them.
 *
 * <p>Pruning: an answer ends early when its tail is a loop ({@link FinishReason#REPETITION}), or
 * at a segment boundary when it already holds a complete final answer
 * ({@link FinishReason#ANSWERED}). When a tree has no live branch but fewer answers than its
 * budget, its policy names fork points on the paths so far and new answers start there.
 */
public final class TreeSampler {
  private final Model model;
  private final KvStore kv;
  private final int[] eosIds;
  private final int maxStepTokens;
  private final RadixKvCache cache; // null: no reuse across requests
  private final Counters total = new Counters(); // over the sampler's life

  private final Object lock = new Object();
  private final ArrayDeque<Run> pending = new ArrayDeque<>(); // guarded by lock
  private boolean driving; // guarded by lock: a sampling thread is running
  private int inFlight; // guarded by lock: requests submitted and not yet completed
  private final List<Run> active = new ArrayList<>(); // the sampling thread's own

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

  /**
   * What a sampler did, over its life ({@link #stats()}) or for one request
   * ({@link RolloutHooks#rolloutFinished}).
   *
   * @param computedTokens tokens fed through the model (recomputation included)
   * @param cacheHitTokens prompt and path tokens whose KV came from the prefix cache instead
   * @param suspensions times a branch gave up its pages for lack of memory
   * @param refills fork points at which new answers started in trees that had run out of branches
   * @param forwardSteps batched forward passes run (for a request: those it had rows in)
   */
  public record Stats(long computedTokens, long cacheHitTokens, long suspensions, long refills,
      long forwardSteps) {}

  /** Counters since this sampler was made. */
  public Stats stats() {
    return total.snapshot();
  }

  /** Work counters, written by the sampling thread only; volatile so any thread may read them. */
  private static final class Counters {
    volatile long computedTokens;
    volatile long hitTokens;
    volatile long suspensions;
    volatile long refills;
    volatile long forwardSteps;

    Stats snapshot() {
      return new Stats(computedTokens, hitTokens, suspensions, refills, forwardSteps);
    }
  }

  /**
   * Samples one tree per prompt with the config's policy, blocking until every tree is done.
   * Tree {@code i} is seeded from {@code (params.seed(), i)}.
   */
  public List<RolloutTree> sample(List<int[]> prompts, TreeRolloutConfig cfg, SamplingParams params,
      RolloutHooks hooks) {
    try {
      return submit(prompts, cfg, params, hooks).join();
    } catch (CompletionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }

  /**
   * Queues a request: its trees join the batch at the next step, decoding together with every
   * other request's (continuous batching); the future completes when its trees are done. Input
   * errors are thrown here, at once. Hooks are called on the sampling thread.
   */
  public CompletableFuture<List<RolloutTree>> submit(List<int[]> prompts, TreeRolloutConfig cfg,
      SamplingParams params, RolloutHooks hooks) {
    BranchingPolicy policy = cfg.newPolicy();
    int k = policy.candidatesPerToken();
    SamplingParams p = k > params.logprobs() ? params.withLogprobs(k) : params;
    int longest = prompts.stream().mapToInt(x -> x.length).max().orElse(0);
    int pagesPerAnswer = kv.pool().pagesFor(longest + cfg.maxTokens()) + 1;
    if (pagesPerAnswer > kv.pool().capacity()) {
      throw new TreeRollException("KV budget of " + kv.pool().capacity() + " pages is too small: one answer of "
          + (longest + cfg.maxTokens()) + " tokens needs " + pagesPerAnswer);
    }
    for (int i = 0; i < prompts.size(); i++) {
      int[] prompt = prompts.get(i);
      if (prompt.length == 0) {
        throw new TreeRollException("prompt " + i + " is empty");
      }
      if (prompt.length + cfg.maxTokens() > model.config().maxPositionEmbeddings()) {
        throw new TreeRollException("prompt " + i + " has " + prompt.length + " tokens; with max_tokens "
            + cfg.maxTokens() + " it exceeds max_position_embeddings " + model.config().maxPositionEmbeddings());
      }
    }
    Run run = new Run(List.copyOf(prompts), cfg, policy, p, hooks);
    synchronized (lock) {
      pending.add(run);
      inFlight++;
      if (!driving) {
        driving = true;
        Thread.ofPlatform().daemon().name("treeroll-sampler").start(this::drive);
      }
    }
    return run.done;
  }

  /** Whether requests are queued or being sampled. */
  public boolean busy() {
    synchronized (lock) {
      return inFlight > 0;
    }
  }

  /**
   * The sampling thread: admits queued requests, advances every live branch of every request by
   * one token per step, completes requests whose trees are done, and exits when nothing is left.
   */
  private void drive() {
    try {
      while (true) {
        synchronized (lock) {
          while (!pending.isEmpty()) {
            admit(pending.poll());
          }
          if (active.isEmpty()) {
            driving = false;
            return;
          }
        }
        for (Run r : active) {
          r.trees.forEach(this::refill);
        }
        for (Iterator<Run> it = active.iterator(); it.hasNext(); ) {
          Run r = it.next();
          if (r.failure != null) {
            it.remove();
            r.trees.forEach(TreeState::releaseAll);
            synchronized (lock) {
              inFlight--;
            }
            r.done.completeExceptionally(r.failure);
          } else if (r.trees.stream().allMatch(t -> t.live.isEmpty())) {
            it.remove();
            r.trees.forEach(t -> t.tree.renumber());
            synchronized (lock) {
              inFlight--;
            }
            try {
              r.hooks.rolloutFinished(r.counters.snapshot());
              r.done.complete(r.trees.stream().map(t -> t.tree).toList());
            } catch (RuntimeException e) {
              r.done.completeExceptionally(e);
            }
          }
        }
        List<Branch> live = collectLive();
        if (live.isEmpty()) {
          continue;
        }
        resume(live.stream().filter(b -> b.table == null).toList());
        // Resuming may have forked branches: take the live set anew.
        step(collectLive().stream().filter(b -> b.table != null).toList());
      }
    } catch (Throwable e) {
      synchronized (lock) {
        List<Run> failed = new ArrayList<>(active);
        failed.addAll(pending);
        active.clear();
        pending.clear();
        driving = false;
        inFlight -= failed.size();
        for (Run r : failed) {
          r.trees.forEach(TreeState::releaseAll);
          r.done.completeExceptionally(e);
        }
      }
    }
  }

  /** Makes a queued request's trees, each a waiting branch at its prompt. */
  private void admit(Run run) {
    long version = cache == null ? 0 : cache.weightVersion();
    for (int i = 0; i < run.prompts.size(); i++) {
      long seed = TokenSampler.rngFor(run.params.seed(), i).nextLong();
      TreeState t = new TreeState(run, new RolloutTree(i, run.prompts.get(i), version, seed, run.policy.name()),
          new SplittableRandom(seed), 4 * run.cfg.leafBudget());
      t.live.add(new Branch(t, t.tree.root(), null, new IntArrayList()));
      run.trees.add(t);
    }
    active.add(run);
  }

  /** One request: its settings, its trees, the context its policy sees. */
  private final class Run implements BranchingContext {
    final List<int[]> prompts;
    final TreeRolloutConfig cfg;
    final BranchingPolicy policy;
    final SamplingParams params;
    final RolloutHooks hooks;
    final List<TreeState> trees = new ArrayList<>();
    final CompletableFuture<List<RolloutTree>> done = new CompletableFuture<>();
    final Int2ObjectOpenHashMap<float[]> embeddings = new Int2ObjectOpenHashMap<>();
    /** What a hook of this request threw: the request fails alone, before the next step. */
    Throwable failure;
    final Counters counters = new Counters();

    Run(List<int[]> prompts, TreeRolloutConfig cfg, BranchingPolicy policy, SamplingParams params,
        RolloutHooks hooks) {
      this.prompts = prompts;
      this.cfg = cfg;
      this.policy = policy;
      this.params = params;
      this.hooks = hooks;
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

  /**
   * Starts new answers in a tree with no live branch and fewer answers than its budget, where
   * its policy says; they wait for pages like suspended branches, and resume reuses the cached
   * prefix.
   */
  private void refill(TreeState t) {
    Run run = t.run;
    int missing = run.cfg.leafBudget() - t.leaves;
    if (!t.live.isEmpty() || missing <= 0 || t.tree.leaves().isEmpty() || t.refillsLeft-- <= 0) {
      return;
    }
    for (ForkPoint f : run.policy.refill(t.tree, missing, run, t.seeds)) {
      SegmentNode at = f.node();
      if (f.offset() < at.tokenCount()) {
        at = t.tree.splitAt(at, f.offset());
      } else if (at.isLeaf() && !at.isRootNode()) {
        throw new IllegalStateException(run.policy.name() + " forked after the end of answer " + at.id());
      }
      int n = Math.min(f.children(), run.cfg.leafBudget() - t.leaves - t.live.size());
      IntArrayList response = new IntArrayList(responseOf(at));
      for (int c = 0; c < n; c++) {
        t.live.add(new Branch(t, t.tree.addChild(at, t.seeds.nextLong()), null, response.clone()));
      }
      total.refills++;
      run.counters.refills++;
    }
    t.finishedThisSegment = 0;
  }

  private static int[] responseOf(SegmentNode node) {
    return node.isRootNode() ? new int[0] : RolloutTree.responseTokens(node);
  }

  /** Recomputes the KV of waiting branches' whole paths, as many as free pages allow. */
  private void resume(List<Branch> waiting) {
    List<Branch> resumed = new ArrayList<>();
    List<int[]> paths = new ArrayList<>();
    IntArrayList reused = new IntArrayList();
    int promised = 0; // pages the branches resumed so far will still take
    for (Branch b : waiting) {
      int[] path = pathTokens(b);
      PageTable table = reuseCached(path, b.tree.run);
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
      NextTokenDistributions d = forward(chunks, owners);
      for (int r = 0; r < owners.size(); r++) {
        owners.get(r).setNext(d, r);
      }
      pending = false;
      for (int i = 0; i < resumed.size(); i++) {
        pending |= done[i] < paths.get(i).length;
      }
    }
    for (int i = 0; i < resumed.size(); i++) {
      cachePath(paths.get(i), resumed.get(i).table);
    }
    atBoundaries(resumed);
  }

  /** Indexes the computed prefix of {@code path} in the prefix cache, when there is one. */
  private void cachePath(int[] path, PageTable table) {
    if (cache == null) {
      return;
    }
    int n = Math.min(path.length, table.length());
    int[] slots = new int[n];
    for (int t = 0; t < n; t++) {
      slots[t] = table.slot(t);
    }
    cache.insert(cache.root(), n == path.length ? path : Arrays.copyOf(path, n), slots);
  }

  /**
   * A page table holding the longest cached prefix of {@code path} (never all of it: the last
   * token must run to give the next distribution); empty without a cache.
   */
  private PageTable reuseCached(int[] path, Run run) {
    if (cache == null) {
      return new PageTable(kv.pool());
    }
    RadixKvCache.Match m = cache.match(path);
    int reuse = cache.pageConsistentLength(m.node(), Math.min(m.length(), path.length - 1));
    boolean partial = reuse % kv.pool().pageSize() != 0;
    if (reuse == 0 || (partial && !makeRoom(1))) {
      return new PageTable(kv.pool());
    }
    total.hitTokens += reuse;
    run.counters.hitTokens += reuse;
    return PageTable.prefix(kv.pool(), k -> cache.pageAt(m.node(), k), reuse, false, kv);
  }

  /** Whether {@code pages} pages are free, after evicting cached prefixes if needed. */
  private boolean makeRoom(int pages) {
    return kv.pool().freePages() >= pages || (cache != null && cache.evictUntilFree(pages));
  }

  /** Samples a token for every active branch, ends the stopped ones, feeds the rest. */
  private void step(List<Branch> active) {
    List<Branch> feed = new ArrayList<>();
    // Draws are independent (each branch has its own RNG; distributions are read-only), so they
    // run on every core: at 64 rows of a 152k vocabulary they take ~10 ms on one.
    SampledToken[] drawn = new SampledToken[active.size()];
    IntStream.range(0, drawn.length).parallel().forEach(i -> {
      Branch b = active.get(i);
      drawn[i] = TokenSampler.sample(b.next, b.nextRow, b.tree.run.params, b.rng);
    });
    for (int i = 0; i < drawn.length; i++) {
      Branch b = active.get(i);
      Run run = b.tree.run;
      SampledToken t = drawn[i];
      if (run.params.logprobs() > 0) {
        b.node.append(t.id(), t.logProb(), t.entropy(), t.topIds(), t.topLogProbs());
      } else {
        b.node.append(t.id(), t.logProb(), t.entropy());
      }
      b.response.add(t.id());
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
      if (needsPage && !makeRoom(1)) {
        b.suspend(); // its sampled token is recomputed with the rest of its path on resume
        total.suspensions++;
        b.tree.run.counters.suspensions++;
        continue;
      }
      b.table.reserve(1);
      chunks.add(new SequenceChunk(b.table, new int[] {b.node.token(b.node.tokenCount() - 1)}, false));
      fed.add(b);
    }
    if (!chunks.isEmpty()) {
      NextTokenDistributions d = forward(chunks, fed);
      for (int r = 0; r < fed.size(); r++) {
        fed.get(r).setNext(d, r);
      }
    }
    atBoundaries(fed);
  }

  /** Ends an answer: caches its path for later forks, frees its pages, tells the caller. */
  private void finish(Branch b, FinishReason reason) {
    cachePath(pathTokens(b), b.table);
    b.tree.finish(b, reason);
    b.tree.run.leafFinished(b.tree.tree, b.node);
  }

  /**
   * Forks the branches whose segment is full (and the prompts, which fork into the initial
   * divergence), one tree at a time.
   */
  private void atBoundaries(List<Branch> ready) {
    for (TreeState t : ready.stream().map(b -> b.tree).distinct().toList()) {
      Run run = t.run;
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
      Branch b = new Branch(t, child, table, c == 0 ? parent.response : parent.response.clone());
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

  /** One forward step; row {@code r} of the result is {@code owners.get(r)}'s next distribution. */
  private NextTokenDistributions forward(List<SequenceChunk> chunks, List<Branch> owners) {
    long n = 0;
    Set<Run> runs = Collections.newSetFromMap(new IdentityHashMap<>());
    for (int r = 0; r < chunks.size(); r++) {
      int tokens = chunks.get(r).tokens().length;
      n += tokens;
      Run run = owners.get(r).tree.run;
      run.counters.computedTokens += tokens;
      if (runs.add(run)) {
        run.counters.forwardSteps++;
      }
    }
    total.computedTokens += n;
    total.forwardSteps++;
    float[] temperatures = new float[owners.size()];
    for (int r = 0; r < temperatures.length; r++) {
      temperatures[r] = (float) owners.get(r).tree.run.params.logprobTemperature();
    }
    try (NDManager m = NDManager.newBaseManager(model.device())) {
      return NextTokenDistributions.of(model.forward(chunks, kv, m), temperatures);
    }
  }

  private static int[] pathTokens(Branch b) {
    int[] prompt = b.tree.tree.root().tokens();
    int[] path = Arrays.copyOf(prompt, prompt.length + b.response.size());
    b.response.getElements(0, path, prompt.length, b.response.size());
    return path;
  }

  private List<Branch> collectLive() {
    List<Branch> out = new ArrayList<>();
    for (Run r : active) {
      for (TreeState t : r.trees) {
        out.addAll(t.live);
      }
    }
    return out;
  }

  /** A leaf being written; without a page table it waits for memory. */
  private static final class Branch {
    final TreeState tree;
    final SegmentNode node;
    final SplittableRandom rng;
    final IntArrayList response; // the path's tokens after the prompt, this node's included
    PageTable table;
    NextTokenDistributions next;
    int nextRow;

    Branch(TreeState tree, SegmentNode node, PageTable table, IntArrayList response) {
      this.tree = tree;
      this.node = node;
      this.table = table;
      this.response = response;
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
    final Run run;
    final RolloutTree tree;
    final SplittableRandom seeds;
    final List<Branch> live = new ArrayList<>();
    int leaves;
    int finishedThisSegment;
    int refillsLeft; // a policy whose new answers keep dying at once must not loop forever

    TreeState(Run run, RolloutTree tree, SplittableRandom seeds, int refills) {
      this.run = run;
      this.tree = tree;
      this.seeds = seeds;
      this.refillsLeft = refills;
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
