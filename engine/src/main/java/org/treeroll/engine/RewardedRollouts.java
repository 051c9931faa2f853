package org.treeroll.engine;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntConsumer;
import org.treeroll.advantage.AdvantageEstimator;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.runtime.RolloutStats;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.reward.AnswerExtractor;
import org.treeroll.reward.Reward;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * The call a trainer makes each step: problems in, rewarded trees and advantages out. Answers
 * are scored as they finish, while the rest of the batch keeps decoding (a remote verifier's
 * latency hides behind the model's); the engine stops answers whose final answer is complete
 * and groups answers by meaning through the same {@link AnswerExtractor}.
 */
public final class RewardedRollouts {
  private final InferenceSession session;
  private final RewardFunction reward;
  private final AdvantageEstimator estimator;

  public RewardedRollouts(InferenceSession session, RewardFunction reward, AdvantageEstimator estimator) {
    this.session = session;
    this.reward = reward;
    this.estimator = estimator;
  }

  /**
   * One step's rollouts.
   *
   * @param trees one per problem, in order, leaves carrying rewards or reward errors
   * @param stats the sampler's counters for this call alone
   */
  public record Result(List<RolloutTree> trees, TreeRewards.Summary rewards, BatchAdvantages advantages,
      RolloutStats stats, double seconds) {
    /** Tokens independent sampling of the same answers would have fed through the model. */
    public long independentTokens() {
      // The prompt once per tree, then every answer's tokens but its last (sampled, never fed).
      return trees.stream().mapToLong(t -> t.independentTokens() - t.leaves().size()).sum();
    }

    public int leaves() {
      return trees.stream().mapToInt(t -> t.leaves().size()).sum();
    }
  }

  /** What a caller hears while a batch runs, on the engine's thread: return at once. */
  public interface Listener {
    /** An answer ended and its verdict (a reward or an error) is written on its leaf. */
    default void answerScored(RolloutTree tree, SegmentNode leaf, Reward reward) {}

    /** A tree is done and numbered for good; some of its answers may still be being scored. */
    default void treeFinished(RolloutTree tree) {}
  }

  /**
   * Samples a tree per problem, scores every answer and computes advantages.
   *
   * @param onLeaf called with the number of answers scored so far (for progress display)
   */
  public Result run(List<TreeRewards.Problem> problems, TreeRolloutConfig config, SamplingParams params,
      IntConsumer onLeaf) {
    TextTokenizer tok = session.model().tokenizer();
    List<int[]> prompts = problems.stream().map(p -> tok.encodePrompt(p.prompt())).toList();
    int[] scored = {0};
    return start(prompts, 0, problems, config, params, new Listener() {
      @Override
      public void answerScored(RolloutTree tree, SegmentNode leaf, Reward reward) {
        onLeaf.accept(++scored[0]);
      }
    }).join();
  }

  /**
   * {@link #run} without waiting, on prompts already tokenized ({@code problems} give the text a
   * reward function sees and the references, in the same order), trees numbered from
   * {@code firstTreeId} (see {@link InferenceSession#rollout(List, int, TreeRolloutConfig,
   * SamplingParams, RolloutHooks)}). Cancelling the future cancels the rollout.
   */
  public CompletableFuture<Result> start(List<int[]> prompts, int firstTreeId, List<TreeRewards.Problem> problems,
      TreeRolloutConfig config, SamplingParams params, Listener listener) {
    if (problems.isEmpty()) {
      throw new TreeRollException("problems: the list is empty");
    }
    if (prompts.size() != problems.size()) {
      throw new TreeRollException("problems: " + problems.size() + " for " + prompts.size() + " prompts");
    }
    TextTokenizer tok = session.model().tokenizer();
    // Verdicts are written onto leaves on the engine's thread, which may still be splitting nodes.
    TreeRewards.Batch batch = new TreeRewards(reward, session.treeWriter()).batch();
    Set<Integer> added = new HashSet<>();
    RolloutStats[] own = new RolloutStats[1];
    // The listener has heard of every answer before the result completes (leaves finish on the
    // engine's thread, before the rollout's future completes; their verdicts may come later).
    List<CompletableFuture<Void>> told = new ArrayList<>();
    RolloutHooks hooks = new RolloutHooks() {
      @Override
      public String finalAnswer(int[] response, boolean done) {
        return AnswerExtractor.meaningClass(tok.decode(response, true), done).orElse(null);
      }

      @Override
      public void rolloutFinished(RolloutStats stats) {
        own[0] = stats;
      }

      @Override
      public void treeFinished(RolloutTree tree) {
        listener.treeFinished(tree);
      }

      @Override
      public void leafFinished(RolloutTree tree, SegmentNode leaf) {
        if (added.add(tree.id())) {
          batch.add(tree, problems.get(tree.id() - firstTreeId));
        }
        // The reward sees the answer's text as a client does: cut at its stop string.
        String text = params.stop().cut(tok.decode(RolloutTree.responseTokens(leaf), true));
        told.add(batch.submit(tree, leaf, text)
            .thenAccept(r -> listener.answerScored(tree, leaf, r)));
      }
    };
    long t0 = System.nanoTime();
    CompletableFuture<List<RolloutTree>> rollout = session.rollout(prompts, firstTreeId, config, params, hooks);
    CompletableFuture<TreeRewards.Summary> scored = rollout.thenCompose(t -> batch.awaitAll()
        .thenCombine(CompletableFuture.allOf(told.toArray(CompletableFuture[]::new)), (summary, v) -> summary));
    CompletableFuture<Result> result = rollout.thenCombine(scored,
        (trees, summary) -> new Result(trees, summary, estimator.estimate(trees), own[0],
            (System.nanoTime() - t0) / 1e9));
    result.whenComplete((r, e) -> {
      if (result.isCancelled()) {
        rollout.cancel(true);
      }
    });
    return result;
  }
}
