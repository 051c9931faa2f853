package org.treeroll.engine.scheduler;

import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.branching.BranchingPolicy;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.TokenSampler;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.TreeRollException;

/**
 * Queue and admission. Requests are checked on the caller's thread (a bad one is refused at
 * once, nothing queued), wait in arrival order, and join the batch at the next step: rollouts
 * become trees whose roots wait for their prompt's prefill, score jobs join the scoring queue.
 * Weight swaps queue in the same order: a request queued before a swap runs on the old weights,
 * one queued after it waits for the new ones, so no request straddles two versions.
 */
final class Admission {
  private final Model model;
  private final PagePool pool;
  private final boolean hasText; // whether stop strings can be matched
  // RolloutRun | ScoreJob | WeightSwap, in arrival order; scheduler thread only.
  private final ArrayDeque<Object> queue = new ArrayDeque<>();

  Admission(Model model, PagePool pool, boolean hasText) {
    this.model = model;
    this.pool = pool;
    this.hasText = hasText;
  }

  /** A rollout request after its checks (caller's thread); the scheduler admits it later. */
  RolloutRun rollout(List<int[]> prompts, int firstTreeId, TreeRolloutConfig cfg, SamplingParams params,
      RolloutHooks hooks) {
    if (firstTreeId < 0) {
      throw new TreeRollException("first tree id must be >= 0, got " + firstTreeId);
    }
    if (prompts == null || prompts.isEmpty()) {
      throw new TreeRollException("prompts: the list is empty");
    }
    BranchingPolicy policy = cfg.newPolicy();
    int k = policy.candidatesPerToken();
    SamplingParams p = k > params.logprobs() ? params.withLogprobs(k) : params;
    ModelConfig mc = model.config();
    if (!params.stop().isEmpty() && !hasText) {
      throw new TreeRollException("stop strings need the model's tokenizer, and this engine was started without one");
    }
    String noFixedOrder = params.batchInvariant() ? model.fixedOrderUnavailable() : null;
    if (noFixedOrder != null) {
      throw new TreeRollException(noFixedOrder);
    }
    for (int id : params.adjustments().logitBias().keySet()) {
      if (id >= mc.vocabSize()) {
        throw new TreeRollException("logit_bias: token id " + id + " is outside the vocabulary of " + mc.vocabSize());
      }
    }
    int longest = 0;
    for (int i = 0; i < prompts.size(); i++) {
      int[] prompt = prompts.get(i);
      checkTokens("prompt " + i, prompt, mc);
      if (prompt.length + cfg.maxTokens() > mc.maxPositionEmbeddings()) {
        throw new TreeRollException("prompt " + i + " has " + prompt.length + " tokens; with max_tokens "
            + cfg.maxTokens() + " it exceeds the model's max_position_embeddings " + mc.maxPositionEmbeddings());
      }
      longest = Math.max(longest, prompt.length);
    }
    int pagesPerAnswer = pool.pagesFor(longest + cfg.maxTokens()) + 1;
    if (pagesPerAnswer > pool.capacity()) {
      throw new TreeRollException("KV budget of " + pool.capacity() + " pages is too small: one answer of "
          + (longest + cfg.maxTokens()) + " tokens needs " + pagesPerAnswer);
    }
    List<int[]> copies = prompts.stream().map(int[]::clone).toList();
    return new RolloutRun(copies, firstTreeId, cfg, policy, p, hooks == null ? RolloutHooks.NONE : hooks, model);
  }

  /** A scoring request after its checks (caller's thread). */
  ScoreJob score(List<int[]> sequences, double temperature) {
    if (sequences == null || sequences.isEmpty()) {
      throw new TreeRollException("sequences: the list is empty");
    }
    if (!(temperature > 0) || Double.isInfinite(temperature)) {
      throw new TreeRollException("temperature must be > 0 for scoring, got " + temperature);
    }
    ModelConfig mc = model.config();
    for (int i = 0; i < sequences.size(); i++) {
      int[] seq = sequences.get(i);
      checkTokens("sequence " + i, seq, mc);
      if (seq.length < 2) {
        throw new TreeRollException("sequence " + i + " needs at least 2 tokens to score, got " + seq.length);
      }
      if (seq.length > mc.maxPositionEmbeddings()) {
        throw new TreeRollException("sequence " + i + " has " + seq.length
            + " tokens, more than the model's max_position_embeddings " + mc.maxPositionEmbeddings());
      }
      if (pool.pagesFor(seq.length) > pool.capacity()) {
        throw new TreeRollException("KV budget of " + pool.capacity() + " pages is too small to score sequence "
            + i + " of " + seq.length + " tokens");
      }
    }
    return new ScoreJob(sequences.stream().map(int[]::clone).toList(), temperature);
  }

  /** The one check of token ids every request shares. */
  private static void checkTokens(String what, int[] tokens, ModelConfig mc) {
    if (tokens == null || tokens.length == 0) {
      throw new TreeRollException(what + " is empty");
    }
    for (int j = 0; j < tokens.length; j++) {
      if (tokens[j] < 0 || tokens[j] >= mc.vocabSize()) {
        throw new TreeRollException(what + ": token " + j + " is " + tokens[j] + ", outside the vocabulary [0, "
            + mc.vocabSize() + ")");
      }
    }
  }

  void enqueue(Object request) {
    queue.add(request);
  }

  /** The oldest queued request or swap, or null. */
  Object head() {
    return queue.peek();
  }

  Object take() {
    return queue.poll();
  }

  boolean remove(Object request) {
    return queue.remove(request);
  }

  /** Queued requests, swaps not counted. */
  int queuedRequests() {
    return (int) queue.stream().filter(r -> !(r instanceof WeightSwap)).count();
  }

  int queuedSwaps() {
    return queue.size() - queuedRequests();
  }

  /** The version the last queued swap will set, or {@code current} when none is queued. */
  long lastVersion(long current) {
    long v = current;
    for (Object r : queue) {
      if (r instanceof WeightSwap s) {
        v = s.version();
      }
    }
    return v;
  }

  /** Takes everything queued out (engine failure or shutdown). */
  List<Object> drain() {
    List<Object> out = new ArrayList<>(queue);
    queue.clear();
    return out;
  }

  /**
   * Makes a request's trees, each a waiting branch at its prompt. Tree {@code first + i} is
   * seeded from {@code (seed, first + i)}.
   */
  static void plant(RolloutRun run, long weightVersion) {
    for (int i = 0; i < run.prompts.size(); i++) {
      int id = run.firstTreeId + i;
      long seed = TokenSampler.rngFor(run.params.seed(), id).nextLong();
      TreeState t = new TreeState(run, new RolloutTree(id, run.prompts.get(i), weightVersion, seed, run.policy.name()),
          new SplittableRandom(seed), 4 * run.cfg.leafBudget());
      t.live.add(new Branch(t, t.tree.root(), null, new IntArrayList()));
      run.trees.add(t);
    }
  }
}
