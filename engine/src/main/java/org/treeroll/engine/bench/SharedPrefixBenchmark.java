package org.treeroll.engine.bench;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import it.unimi.dsi.fastutil.ints.IntOpenHashSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.TreeSampler;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * Prefix sharing at admission: N requests whose prompts start with the same system prompt of S
 * tokens, each followed by its own user part of U tokens, each asking for one short answer, all
 * arriving at once. An engine that shares prefixes among requests admitted together computes
 * the system prompt once, S + sum(U) prompt tokens instead of N * S + sum(U).
 *
 * <p>Prefill is told from decode by counting decode tokens from the trees: each sampled token is
 * fed back through the model exactly once, except an answer's last, which ends it. So decode
 * feeds {@code answer tokens - 1} per answer, and prefill is the rest of the computed tokens.
 * That holds only when no branch gave up its pages (a resumed branch recomputes its whole path);
 * {@link #run} refuses a KV budget too small to hold every request at once, and checks.
 *
 * <p>Prompts are random ids of the model's ordinary vocabulary (no tokenizer needed): the
 * tokenizer's added tokens and the EOS ids are left out.
 */
public final class SharedPrefixBenchmark {
  private SharedPrefixBenchmark() {}

  /**
   * What is sent: {@code requests} prompts of a shared system part and a user part whose length
   * is drawn per request from {@code [minUserTokens, maxUserTokens]}; one answer of at most
   * {@code maxTokens} each.
   */
  public record Workload(int requests, int systemTokens, int minUserTokens, int maxUserTokens,
      int maxTokens, long seed) {
    public int longestPrompt() {
      return systemTokens + maxUserTokens;
    }
  }

  /** How the requests reach the engine. */
  public enum Submission {
    /** One {@code rollout} call carrying every prompt. */
    ONE_CALL,
    /** One {@code rolloutAsync} call per request, from as many threads, admitted in one step. */
    CONCURRENT_CALLERS
  }

  /**
   * One submission's counts, from the session's rollout stats over the measured requests.
   *
   * @param promptTokens sum of the prompt lengths
   * @param distinctPrefixTokens tokens of the prompts' prefix trie: each distinct prefix
   *     computed once, the least any sharing can do
   * @param prefillTokens prompt tokens fed through the model
   * @param decodeTokens answer tokens fed back through the model
   * @param cacheHitTokens prompt tokens whose KV came from the prefix cache
   * @param trees one per request, in request order
   */
  public record Result(Submission submission, long promptTokens, long distinctPrefixTokens,
      long prefillTokens, long decodeTokens, long cacheHitTokens, long forwardSteps,
      double seconds, List<RolloutTree> trees) {
    /** Prompt tokens computed per prompt token sent: 1.0 without sharing. */
    public double ratio() {
      return (double) prefillTokens / promptTokens;
    }

    /** {@link #ratio} if every distinct prefix were computed exactly once. */
    public double idealRatio() {
      return (double) distinctPrefixTokens / promptTokens;
    }
  }

  /** An untimed warm-up in a throwaway session, then each submission in a fresh session. */
  public static List<Result> run(LoadedModel lm, long kvBudgetBytes, Workload w) {
    List<int[]> prompts = prompts(w, ordinaryIds(lm));
    requireRoomForAll(lm, kvBudgetBytes, w);
    try (InferenceSession s = new InferenceSession(lm, kvBudgetBytes)) {
      // The first steps of a process pay for JIT compilation; neither measured side should.
      new Engine(s).rollout(prompts.subList(0, Math.min(2, prompts.size())), config(w), params(w));
    }
    List<Result> out = new ArrayList<>();
    for (Submission how : Submission.values()) {
      out.add(run(lm, kvBudgetBytes, w, prompts, how));
    }
    return out;
  }

  static Result run(LoadedModel lm, long kvBudgetBytes, Workload w, List<int[]> prompts, Submission how) {
    // A fresh session each: an empty prefix cache, so no submission reuses another's prompts.
    try (InferenceSession s = new InferenceSession(lm, kvBudgetBytes)) {
      Engine engine = new Engine(s);
      Measured m = switch (how) {
        case ONE_CALL -> oneCall(engine, prompts, w);
        case CONCURRENT_CALLERS -> concurrentCallers(engine, prompts, w, gateToken(lm, prompts));
      };
      TreeSampler.Stats d = minus(m.after(), m.before());
      if (d.suspensions() > 0) {
        throw new TreeRollException(d.suspensions() + " branches gave up their pages and recomputed their"
            + " paths, so prefill cannot be told from decode; give the KV cache more memory");
      }
      long decode = m.trees().stream().flatMap(t -> t.leaves().stream())
          .mapToLong(l -> RolloutTree.responseTokens(l).length - 1).sum();
      long promptTokens = prompts.stream().mapToLong(p -> p.length).sum();
      return new Result(how, promptTokens, distinctPrefixTokens(prompts), d.computedTokens() - decode,
          decode, d.cacheHitTokens(), d.forwardSteps(), m.seconds(), m.trees());
    }
  }

  /** Stats around the measured requests, their trees in request order, wall-clock between. */
  private record Measured(TreeSampler.Stats before, TreeSampler.Stats after, double seconds,
      List<RolloutTree> trees) {}

  private static Measured oneCall(Engine engine, List<int[]> prompts, Workload w) {
    TreeSampler.Stats before = engine.stats();
    long t0 = System.nanoTime();
    List<RolloutTree> trees = engine.rollout(prompts, config(w), params(w));
    double sec = (System.nanoTime() - t0) / 1e9;
    return new Measured(before, engine.stats(), sec, trees);
  }

  /**
   * N threads each submit one request. To admit them in the same step whatever the threads'
   * timing, a one-token gate request holds the sampling thread in its {@code leafFinished} hook
   * (hooks run on that thread) until every request is queued.
   */
  private static Measured concurrentCallers(Engine engine, List<int[]> prompts, Workload w, int gateToken) {
    int n = prompts.size();
    CountDownLatch held = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    RolloutHooks gateHooks = new RolloutHooks() {
      @Override
      public void leafFinished(RolloutTree tree, SegmentNode leaf) {
        held.countDown();
        awaitUninterruptibly(release);
      }
    };
    CompletableFuture<List<RolloutTree>> gate = engine.rolloutAsync(List.of(new int[] {gateToken}),
        TreeRolloutConfig.independent(1, 1), params(w), gateHooks);
    List<Future<List<RolloutTree>>> callers = new ArrayList<>();
    TreeSampler.Stats before;
    long t0;
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      try {
        awaitHeld(held, gate);
        CountDownLatch queued = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
          List<int[]> one = List.of(prompts.get(i));
          SamplingParams p = params(w).withSeed(w.seed() + i);
          callers.add(threads.submit(() -> {
            CompletableFuture<List<RolloutTree>> f;
            try {
              f = engine.rolloutAsync(one, config(w), p, RolloutHooks.NONE);
            } finally {
              queued.countDown();
            }
            return f.join();
          }));
        }
        awaitUninterruptibly(queued);
        before = engine.stats(); // the gate's work is done: its only answer has ended
        t0 = System.nanoTime();
      } finally {
        release.countDown();
      }
      List<RolloutTree> trees = new ArrayList<>();
      for (Future<List<RolloutTree>> c : callers) {
        trees.addAll(result(c));
      }
      double sec = (System.nanoTime() - t0) / 1e9;
      gate.join();
      return new Measured(before, engine.stats(), sec, trees);
    }
  }

  /**
   * Every call into the session API, kept here: that API is being reworked (into methods that
   * return futures), and adapting this benchmark should mean editing this record alone.
   */
  private record Engine(InferenceSession session) {
    List<RolloutTree> rollout(List<int[]> prompts, TreeRolloutConfig cfg, SamplingParams params) {
      return session.rollout(prompts, cfg, params, RolloutHooks.NONE);
    }

    CompletableFuture<List<RolloutTree>> rolloutAsync(List<int[]> prompts, TreeRolloutConfig cfg,
        SamplingParams params, RolloutHooks hooks) {
      return session.rolloutAsync(prompts, cfg, params, hooks);
    }

    TreeSampler.Stats stats() {
      return session.rolloutStats();
    }
  }

  /** One answer per prompt that never forks. */
  static TreeRolloutConfig config(Workload w) {
    return TreeRolloutConfig.independent(1, w.maxTokens());
  }

  /** EOS ignored: every answer runs to max tokens, so runs decode the same amount. */
  static SamplingParams params(Workload w) {
    return SamplingParams.defaults().withIgnoreEos(true).withSeed(w.seed());
  }

  /**
   * The prompts, seeded: one system part, then a distinct user part per request. Ids come from
   * {@code ordinaryIds}.
   */
  public static List<int[]> prompts(Workload w, int[] ordinaryIds) {
    SplittableRandom rng = new SplittableRandom(w.seed());
    int[] system = draw(rng, ordinaryIds, w.systemTokens());
    Set<IntArrayList> users = new HashSet<>();
    List<int[]> out = new ArrayList<>();
    for (int i = 0; i < w.requests(); i++) {
      int[] user;
      int tries = 0;
      do {
        if (tries++ == 1000) {
          throw new TreeRollException("cannot draw " + w.requests() + " distinct user parts of "
              + w.minUserTokens() + "-" + w.maxUserTokens() + " tokens");
        }
        user = draw(rng, ordinaryIds, rng.nextInt(w.minUserTokens(), w.maxUserTokens() + 1));
      } while (!users.add(IntArrayList.wrap(user)));
      int[] p = Arrays.copyOf(system, system.length + user.length);
      System.arraycopy(user, 0, p, system.length, user.length);
      out.add(p);
    }
    return out;
  }

  /** Ids of the model's vocabulary that are neither added (special) tokens nor EOS. */
  public static int[] ordinaryIds(LoadedModel lm) {
    IntOpenHashSet excluded = new IntOpenHashSet(lm.tokenizer().addedTokenIds());
    excluded.addAll(IntArrayList.wrap(lm.eosIds()));
    return IntStream.range(0, lm.config().vocabSize()).filter(id -> !excluded.contains(id)).toArray();
  }

  /** Tokens in the trie of {@code prompts}: lengths minus what each shares with its sorted neighbour. */
  static long distinctPrefixTokens(List<int[]> prompts) {
    List<int[]> sorted = new ArrayList<>(prompts);
    sorted.sort(Arrays::compare);
    long n = 0;
    for (int i = 0; i < sorted.size(); i++) {
      int[] p = sorted.get(i);
      n += p.length - (i == 0 ? 0 : commonPrefix(sorted.get(i - 1), p));
    }
    return n;
  }

  private static int commonPrefix(int[] a, int[] b) {
    int m = Arrays.mismatch(a, b);
    return m < 0 ? a.length : m;
  }

  /** Admission must take every request at once: a request left waiting would hit the cache later. */
  private static void requireRoomForAll(LoadedModel lm, long kvBudgetBytes, Workload w) {
    int page = InferenceSession.DEFAULT_PAGE_SIZE;
    long pagesEach = (w.longestPrompt() + w.maxTokens() + page - 1) / page + 1;
    long pages = kvBudgetBytes / (KvStore.bytesPerToken(lm.config()) * page);
    if (pagesEach * w.requests() > pages) {
      throw new TreeRollException("a KV budget of " + (kvBudgetBytes >> 20) + " MB holds " + pages
          + " pages; " + w.requests() + " requests need up to " + pagesEach * w.requests() + " at once");
    }
  }

  /** An ordinary id no prompt starts with, so the gate request's cached path matches none. */
  private static int gateToken(LoadedModel lm, List<int[]> prompts) {
    IntOpenHashSet firsts = new IntOpenHashSet();
    prompts.forEach(p -> firsts.add(p[0]));
    for (int id : ordinaryIds(lm)) {
      if (!firsts.contains(id)) {
        return id;
      }
    }
    throw new TreeRollException("every ordinary token starts some prompt; no gate token is left");
  }

  private static int[] draw(SplittableRandom rng, int[] ids, int n) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = ids[rng.nextInt(ids.length)];
    }
    return out;
  }

  private static TreeSampler.Stats minus(TreeSampler.Stats a, TreeSampler.Stats b) {
    return new TreeSampler.Stats(a.computedTokens() - b.computedTokens(),
        a.cacheHitTokens() - b.cacheHitTokens(), a.suspensions() - b.suspensions(),
        a.refills() - b.refills(), a.forwardSteps() - b.forwardSteps());
  }

  private static <T> T result(Future<T> f) {
    try {
      return f.get();
    } catch (ExecutionException e) {
      Throwable c = e.getCause() instanceof CompletionException ce ? ce.getCause() : e.getCause();
      if (c instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(c);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Waits for the gate to hold the sampling thread; fails if the gate request ends first. */
  private static void awaitHeld(CountDownLatch held, CompletableFuture<?> gate) {
    try {
      while (!held.await(50, TimeUnit.MILLISECONDS)) {
        if (gate.isDone()) {
          gate.join(); // throws what failed it
          throw new IllegalStateException("the gate request ended without holding the sampling thread");
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static void awaitUninterruptibly(CountDownLatch latch) {
    boolean interrupted = false;
    while (true) {
      try {
        latch.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
