package org.treeroll.engine.bench;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import it.unimi.dsi.fastutil.ints.IntOpenHashSet;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.KvDtype;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.RolloutStats;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.tree.RolloutTree;
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
    /** One {@code rollout} call per request, from as many threads at once. */
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
        case CONCURRENT_CALLERS -> concurrentCallers(engine, prompts, w);
      };
      RolloutStats d = minus(m.after(), m.before());
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
  private record Measured(RolloutStats before, RolloutStats after, double seconds,
      List<RolloutTree> trees) {}

  private static Measured oneCall(Engine engine, List<int[]> prompts, Workload w) {
    RolloutStats before = engine.stats();
    long t0 = System.nanoTime();
    List<RolloutTree> trees = engine.rollout(prompts, config(w), params(w));
    double sec = (System.nanoTime() - t0) / 1e9;
    return new Measured(before, engine.stats(), sec, trees);
  }

  /**
   * N threads each submit one request at once. Whichever turn of the scheduler admits each, the
   * shared system prompt should be computed once: requests admitted in the same step defer to
   * the first, later ones find it cached.
   */
  private static Measured concurrentCallers(Engine engine, List<int[]> prompts, Workload w) {
    RolloutStats before = engine.stats();
    long t0 = System.nanoTime();
    List<Future<List<RolloutTree>>> callers = new ArrayList<>();
    List<RolloutTree> trees = new ArrayList<>();
    try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < prompts.size(); i++) {
        List<int[]> one = List.of(prompts.get(i));
        SamplingParams p = params(w).withSeed(w.seed() + i);
        callers.add(threads.submit(() -> engine.rollout(one, config(w), p)));
      }
      for (Future<List<RolloutTree>> c : callers) {
        trees.addAll(result(c));
      }
    }
    double sec = (System.nanoTime() - t0) / 1e9;
    return new Measured(before, engine.stats(), sec, trees);
  }

  /** Every call into the session API. */
  private record Engine(InferenceSession session) {
    List<RolloutTree> rollout(List<int[]> prompts, TreeRolloutConfig cfg, SamplingParams params) {
      return session.rollout(prompts, cfg, params, RolloutHooks.NONE).join();
    }

    RolloutStats stats() {
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
    long pages = kvBudgetBytes / (KvStore.bytesPerToken(lm.config(), KvDtype.F32) * page);
    if (pagesEach * w.requests() > pages) {
      throw new TreeRollException("a KV budget of " + (kvBudgetBytes >> 20) + " MB holds " + pages
          + " pages; " + w.requests() + " requests need up to " + pagesEach * w.requests() + " at once");
    }
  }

  private static int[] draw(SplittableRandom rng, int[] ids, int n) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = ids[rng.nextInt(ids.length)];
    }
    return out;
  }

  private static RolloutStats minus(RolloutStats a, RolloutStats b) {
    return new RolloutStats(a.computedTokens() - b.computedTokens(),
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
}
