package org.treeroll.engine.scheduler;

import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.RolloutStats;
import org.treeroll.engine.runtime.TokenScores;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.kvcache.RadixKvCache;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * The engine's one owner: a Vert.x worker verticle on a pool of exactly one thread, which alone
 * touches the KV pages, the page tables and the radix prefix cache (the page pool refuses any
 * other thread). Every operation is a message to it and answers with a future; nothing here
 * blocks the caller, and decode steps never run on an event loop.
 *
 * <p>The scheduler works in turns. A turn admits queued requests (unless a weight swap is
 * pending), refills trees that ran out of branches, completes finished requests, resumes waiting
 * branches (prefill), runs one batched decode step over every live branch of every request
 * (continuous batching: each request's rows at its own temperature), then one chunk of scoring.
 * Messages from other threads queue on the verticle's context between turns, so a request joins
 * the batch at the next step and a cancellation frees its pages at the next step boundary.
 *
 * <p>Futures handed out complete off the scheduler thread, so a caller's continuation never
 * stalls decoding; cancelling one cancels its request.
 */
public final class Scheduler implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Scheduler.class);
  private static final AtomicInteger instances = new AtomicInteger();

  private final Vertx vertx;
  private final Model model;
  private final KvStore kv;
  private final RadixKvCache cache; // null: prefix caching off
  private final int maxStepTokens;
  private final Counters total = new Counters();
  private final ForwardPass forward;
  private final KvMemory memory;
  private final TreeGrowth growth;
  private final Admission admission;
  // Where handed-out futures complete: not the common pool, whose threads the sampling step uses.
  private final ExecutorService callbacks =
      Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("treeroll-callback-", 0).factory());
  // Scheduler-thread state.
  private final List<RolloutRun> active = new ArrayList<>();
  private final ArrayDeque<ScoreJob> scoring = new ArrayDeque<>();
  private long weightVersion;
  private boolean turnQueued;
  private boolean closed;
  private volatile boolean shut; // close() was called: callers are refused at once
  private CompletableFuture<Long> updates = CompletableFuture.completedFuture(0L); // the last weight update; guarded by this
  // Set once deployed.
  private Context context;
  private String deploymentId;

  private Scheduler(Vertx vertx, Model model, KvStore kv, int[] eosIds, int maxStepTokens, boolean prefixCache,
      Function<int[], String> text) {
    if (maxStepTokens <= 0) {
      throw new TreeRollException("max step tokens must be > 0, got " + maxStepTokens);
    }
    this.vertx = vertx;
    this.model = model;
    this.kv = kv;
    this.cache = prefixCache ? new RadixKvCache(kv.pool(), 0) : null;
    this.maxStepTokens = maxStepTokens;
    this.forward = new ForwardPass(model, kv, total);
    this.memory = new KvMemory(kv, cache, forward, maxStepTokens, total);
    this.growth = new TreeGrowth(memory, forward, eosIds, total, text);
    this.admission = new Admission(model, kv.pool(), text != null);
  }

  /**
   * Starts a scheduler over {@code kv}'s pages on its own worker thread and waits until it runs.
   *
   * @param maxStepTokens tokens one forward step may carry (bounds prefill memory)
   * @param prefixCache whether to keep computed prefixes in a radix cache across requests
   */
  public static Scheduler start(Vertx vertx, Model model, KvStore kv, int[] eosIds, int maxStepTokens,
      boolean prefixCache) {
    return start(vertx, model, kv, eosIds, maxStepTokens, prefixCache, null);
  }

  /**
   * {@link #start(Vertx, Model, KvStore, int[], int, boolean)} with the model's detokenizer, which
   * stop strings are matched through; without one, requests with stop strings are refused.
   *
   * @param text token ids to text, special tokens skipped
   */
  public static Scheduler start(Vertx vertx, Model model, KvStore kv, int[] eosIds, int maxStepTokens,
      boolean prefixCache, Function<int[], String> text) {
    Scheduler s = new Scheduler(vertx, model, kv, eosIds, maxStepTokens, prefixCache, text);
    String pool = "treeroll-scheduler-" + instances.incrementAndGet();
    DeploymentOptions options = new DeploymentOptions()
        .setThreadingModel(ThreadingModel.WORKER)
        .setWorkerPoolName(pool)
        .setWorkerPoolSize(1) // one thread: the owner
        // A turn may prefill thousands of tokens on a slow CPU; it is not a blocked thread.
        .setMaxWorkerExecuteTime(10)
        .setMaxWorkerExecuteTimeUnit(TimeUnit.MINUTES);
    s.deploymentId = join(vertx.deployVerticle(s.new Owner(), options));
    return s;
  }

  /** The verticle whose context is the scheduler's thread. */
  private final class Owner extends VerticleBase {
    @Override
    public Future<?> start() {
      Scheduler.this.context = context;
      kv.pool().confineTo(Thread.currentThread());
      return Future.succeededFuture();
    }

    @Override
    public Future<?> stop() {
      closed = true;
      failEverything(new TreeRollException("the engine was closed"));
      return Future.succeededFuture();
    }
  }

  // ---- The API: any thread. ----

  /**
   * Samples one tree per prompt with the config's policy. Tree {@code i} is seeded from
   * {@code (params.seed(), i)}. Input errors are thrown here, at once. Hooks run on the scheduler
   * thread: they must return quickly.
   */
  public CompletableFuture<List<RolloutTree>> rollout(List<int[]> prompts, TreeRolloutConfig cfg,
      SamplingParams params, RolloutHooks hooks) {
    return rollout(prompts, 0, cfg, params, hooks);
  }

  /**
   * {@link #rollout} with trees numbered from {@code firstTreeId}: tree {@code i} is
   * {@code firstTreeId + i} and seeded from {@code (params.seed(), firstTreeId + i)}, so batches of
   * one dataset get distinct ids and the same trees whatever the batch size.
   */
  public CompletableFuture<List<RolloutTree>> rollout(List<int[]> prompts, int firstTreeId, TreeRolloutConfig cfg,
      SamplingParams params, RolloutHooks hooks) {
    return submitRollout(admission.rollout(prompts, firstTreeId, cfg, params, hooks), trees -> trees);
  }

  /**
   * Samples one independent answer per prompt: a tree that never forks, decoded in the same
   * steps as every rollout. Answer {@code i} is seeded from {@code (params.seed(), i)}.
   */
  public CompletableFuture<List<Completion>> generate(List<int[]> prompts, SamplingParams params) {
    TreeRolloutConfig one = TreeRolloutConfig.independent(1, params.maxTokens()).withRepetition(RepetitionRule.OFF);
    return submitRollout(admission.rollout(prompts, 0, one, params, RolloutHooks.NONE),
        trees -> trees.stream().map(t -> completion(t.leaves().get(0))).toList());
  }

  /** Teacher-forced log-probs and entropies of tokens {@code 1..n-1} of each sequence at {@code temperature}. */
  public CompletableFuture<List<TokenScores>> score(List<int[]> sequences, double temperature) {
    ScoreJob job = admission.score(sequences, temperature);
    send(() -> admission.enqueue(job));
    return handOut(job.done, () -> send(() -> cancel(job)));
  }

  /**
   * New weights: read and checked completely on a Vert.x worker thread (a malformed update is
   * refused and the old weights keep serving), then swapped in at a step boundary as
   * {@code policy} says. Answers with the new version.
   */
  public CompletableFuture<Long> updateWeights(WeightUpdate update, WeightSwapPolicy policy) {
    if (update == null || policy == null) {
      throw new TreeRollException("weight update: " + (update == null ? "update" : "policy") + " is null");
    }
    // One update at a time: each is prepared against the weights the one before it left (norm
    // weights are folded into the matrices, so a partial update depends on them).
    synchronized (this) {
      CompletableFuture<Long> next = updates.handle((r, e) -> null)
          .thenCompose(v -> vertx.executeBlocking(() -> model.prepareUpdate(update), false).toCompletionStage())
          .thenCompose(prepared -> swapWeights(() -> model.applyUpdate(prepared), policy));
      updates = next;
      return next;
    }
  }

  /**
   * Swaps weights at a step boundary, as {@code policy} says, and answers with the new version.
   * {@code apply} copies already checked weights into the model; it runs on the scheduler thread
   * with no step in flight.
   */
  CompletableFuture<Long> swapWeights(Runnable apply, WeightSwapPolicy policy) {
    CompletableFuture<Long> done = new CompletableFuture<>();
    long deadline = System.nanoTime() + policy.timeout().toNanos();
    send(() -> {
      long last = admission.lastVersion(weightVersion);
      long version = policy.version() < 0 ? last + 1 : policy.version();
      if (version <= last) {
        done.completeExceptionally(new TreeRollException("weight update version " + version
            + " must be greater than " + last));
        return;
      }
      admission.enqueue(new WeightSwap(version, policy, deadline, apply, done));
    });
    return handOut(done, () -> {});
  }

  /** A snapshot of the engine, taken between steps. */
  public CompletableFuture<EngineStats> stats() {
    CompletableFuture<EngineStats> done = new CompletableFuture<>();
    send(() -> done.complete(snapshot()));
    return handOut(done, () -> {});
  }

  /** Work counters since the scheduler started (read without a message). */
  public RolloutStats totals() {
    return total.snapshot();
  }

  /** Tells {@code listener} about every forward step, on the scheduler thread (telemetry, benchmarks). */
  public void setStepListener(java.util.function.Consumer<StepTiming> listener) {
    forward.setListener(listener);
  }

  /**
   * Runs short tasks on the scheduler thread between steps: how verdicts and other writes reach
   * trees that the scheduler may still be growing.
   */
  public Executor owner() {
    return this::send;
  }

  /** Fails everything queued or in flight and stops the scheduler thread. */
  @Override
  public void close() {
    shut = true;
    if (deploymentId != null) {
      join(vertx.undeploy(deploymentId));
      deploymentId = null;
    }
    callbacks.shutdown(); // what was failed on the way out still completes
  }

  private <T> CompletableFuture<T> submitRollout(RolloutRun run, Function<List<RolloutTree>, T> result) {
    send(() -> admission.enqueue(run));
    return handOut(run.done.thenApply(result), () -> send(() -> cancel(run)));
  }

  /**
   * The caller's view of an internal future: completes on another thread, and cancelling it runs
   * {@code onCancel}.
   */
  private <T> CompletableFuture<T> handOut(CompletableFuture<T> internal, Runnable onCancel) {
    CompletableFuture<T> out = new CompletableFuture<>();
    internal.whenCompleteAsync((r, e) -> {
      if (e == null) {
        out.complete(r);
      } else {
        out.completeExceptionally(e instanceof CompletionException && e.getCause() != null ? e.getCause() : e);
      }
    }, callbacks);
    out.whenComplete((r, e) -> {
      if (out.isCancelled()) {
        onCancel.run();
      }
    });
    return out;
  }

  /** Queues {@code task} on the scheduler thread; a turn follows if there is work. */
  private void send(Runnable task) {
    if (shut) {
      throw new TreeRollException("the engine is closed");
    }
    context.runOnContext(v -> {
      try {
        task.run();
      } catch (RuntimeException e) {
        log.error("scheduler task failed", e);
      }
      if (closed) {
        failEverything(new TreeRollException("the engine was closed"));
      }
      queueTurn();
    });
  }

  // ---- The scheduler thread. ----

  private void queueTurn() {
    if (!turnQueued && !closed && hasWork()) {
      turnQueued = true;
      context.runOnContext(v -> turn());
    }
  }

  private boolean hasWork() {
    return !active.isEmpty() || !scoring.isEmpty() || admission.head() != null;
  }

  private void turn() {
    turnQueued = false;
    if (closed) {
      return;
    }
    try {
      swapOrAdmit();
      for (RolloutRun r : active) {
        r.trees.forEach(growth::refill);
      }
      completeFinished();
      List<Branch> live = live();
      if (!live.isEmpty()) {
        growth.atBoundaries(memory.resume(live.stream().filter(Branch::waiting).toList()));
        // Resuming may have forked branches: take the live set anew.
        growth.step(live().stream().filter(b -> !b.waiting()).toList());
      }
      scoreOneChunk();
    } catch (Throwable e) {
      log.error("engine step failed; failing every request in flight", e);
      failEverything(e);
    }
    queueTurn();
  }

  /**
   * Admits queued requests in arrival order up to the first weight swap, which goes once the
   * requests in flight are done (or aborted), or fails past its deadline.
   */
  private void swapOrAdmit() {
    for (Object head = admission.head(); head != null; head = admission.head()) {
      if (head instanceof RolloutRun run) {
        admission.take();
        Admission.plant(run, weightVersion);
        active.add(run);
        continue;
      }
      if (head instanceof ScoreJob job) {
        admission.take();
        scoring.add(job);
        continue;
      }
      WeightSwap s = (WeightSwap) head;
      if (s.policy().abort()) {
        abortInFlight(new TreeRollException("aborted: the weights are being updated to version " + s.version()));
      }
      if (active.isEmpty() && scoring.isEmpty()) {
        admission.take();
        try {
          s.apply().run();
        } catch (RuntimeException e) { // refused before anything changed: the old weights serve on
          s.done().completeExceptionally(e);
          continue;
        }
        if (cache != null) {
          cache.setWeightVersion(s.version()); // drops every prefix computed under the old weights
        }
        log.info("weights updated: version {} -> {}", weightVersion, s.version());
        weightVersion = s.version();
        s.done().complete(s.version());
      } else if (System.nanoTime() - s.deadlineNanos() > 0) {
        admission.take();
        s.done().completeExceptionally(new TreeRollException("weight update to version " + s.version()
            + " timed out after " + s.policy().timeout() + " waiting for " + active.size() + " rollouts and "
            + scoring.size() + " scoring requests in flight; the old weights (version " + weightVersion
            + ") keep serving"));
      } else {
        return; // wait for the requests in flight; admit nothing queued behind the swap
      }
    }
  }

  private void completeFinished() {
    for (Iterator<RolloutRun> it = active.iterator(); it.hasNext(); ) {
      RolloutRun r = it.next();
      if (r.failure != null) {
        it.remove();
        releaseAll(r);
        r.done.completeExceptionally(r.failure);
      } else if (r.finished()) {
        it.remove();
        try {
          r.hooks.rolloutFinished(r.counters.snapshot());
          r.done.complete(r.trees.stream().map(t -> t.tree).toList());
        } catch (RuntimeException e) {
          r.done.completeExceptionally(e);
        }
      }
    }
  }

  private void scoreOneChunk() {
    ScoreJob job = scoring.peek();
    if (job != null && job.advance(memory, forward, maxStepTokens) && job.finished()) {
      scoring.poll();
    }
  }

  private void cancel(RolloutRun run) {
    if (!admission.remove(run) && active.remove(run)) {
      releaseAll(run);
    }
    run.done.completeExceptionally(new CancellationException("cancelled"));
  }

  private void cancel(ScoreJob job) {
    if (!admission.remove(job) && scoring.remove(job)) {
      job.release();
    }
    job.done.completeExceptionally(new CancellationException("cancelled"));
  }

  private void abortInFlight(Throwable why) {
    for (RolloutRun r : active) {
      releaseAll(r);
      r.done.completeExceptionally(why);
    }
    active.clear();
    for (ScoreJob j : scoring) {
      j.release();
      j.done.completeExceptionally(why);
    }
    scoring.clear();
  }

  /** Fails every request and weight swap, queued or in flight, releasing their memory. */
  private void failEverything(Throwable why) {
    abortInFlight(why);
    for (Object r : admission.drain()) {
      switch (r) {
        case RolloutRun run -> run.done.completeExceptionally(why);
        case ScoreJob job -> job.done.completeExceptionally(why);
        case WeightSwap s -> s.done().completeExceptionally(why);
        default -> throw new IllegalStateException("unknown queued item " + r);
      }
    }
  }

  private void releaseAll(RolloutRun run) {
    for (TreeState t : run.trees) {
      for (Branch b : t.live) {
        memory.release(b);
      }
      t.live.clear();
    }
  }

  private List<Branch> live() {
    List<Branch> out = new ArrayList<>();
    for (RolloutRun r : active) {
      for (TreeState t : r.trees) {
        out.addAll(t.live);
      }
    }
    return out;
  }

  private EngineStats snapshot() {
    int branches = 0;
    for (RolloutRun r : active) {
      for (TreeState t : r.trees) {
        branches += t.live.size();
      }
    }
    RadixKvCache.Stats c = cache == null ? null : cache.stats();
    return new EngineStats(weightVersion, kv.pool().capacity(), kv.pool().pagesInUse(), kv.pool().peakPagesInUse(),
        c == null ? 0 : c.cachedTokens(), cache == null ? 0 : cache.liveLocks(), active.size(),
        admission.queuedRequests(), branches, scoring.size(), admission.queuedSwaps(), total.snapshot());
  }

  private static Completion completion(SegmentNode leaf) {
    int[] tokens = RolloutTree.responseTokens(leaf);
    float[] logProbs = RolloutTree.responseLogProbs(leaf);
    List<SegmentNode> path = RolloutTree.path(leaf);
    float[] entropies = new float[tokens.length];
    List<SampledToken> candidates = new ArrayList<>();
    int at = 0;
    for (SegmentNode n : path) {
      for (int i = 0; i < n.tokenCount() && !n.isRootNode(); i++, at++) {
        entropies[at] = n.entropy(i);
        if (n.candidatesPerToken() > 0) {
          candidates.add(new SampledToken(n.token(i), n.logProbs()[i], n.entropy(i), n.candidateIds(i),
              n.candidateLogProbs(i)));
        }
      }
    }
    return new Completion(tokens, logProbs, entropies, candidates, leaf.finishReason());
  }

  private static <T> T join(Future<T> f) {
    try {
      return f.toCompletionStage().toCompletableFuture().join();
    } catch (CompletionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
  }
}
