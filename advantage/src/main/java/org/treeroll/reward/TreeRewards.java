package org.treeroll.reward;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Function;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

/**
 * Scores the leaves of rollout trees with a {@link RewardFunction} and writes each verdict onto
 * its leaf ({@link SegmentNode#setReward} or {@link SegmentNode#setRewardError}).
 *
 * <p>Nothing here waits for a verdict: {@link Batch#submit} returns at once, so the engine can
 * submit each answer as it finishes and keep decoding the others while verifiers work, then
 * {@link Batch#awaitAll} before computing advantages. Verdicts are written by {@code applyOn}
 * (by default on whichever thread completed the score); an engine that keeps changing its trees
 * meanwhile should pass its own executor so that trees are only touched by one thread. Once the
 * future of {@link Batch#awaitAll} completes, every verdict is visible to the thread that
 * joins it.
 */
public final class TreeRewards {
  private final RewardFunction function;
  private final Executor applyOn;

  public TreeRewards(RewardFunction function) {
    this(function, Runnable::run);
  }

  /** @param applyOn runs the writing of each verdict onto its leaf */
  public TreeRewards(RewardFunction function, Executor applyOn) {
    if (function == null) {
      throw new TreeRollException("tree rewards: function is null");
    }
    if (applyOn == null) {
      throw new TreeRollException("tree rewards: applyOn is null");
    }
    this.function = function;
    this.applyOn = applyOn;
  }

  /**
   * What came of a batch.
   *
   * @param scored leaves that got a reward
   * @param errors leaves whose scoring failed (their reward is NaN, with an error)
   * @param meanReward mean reward of the scored leaves; NaN when none was scored
   * @param firstError the first error recorded, or null
   */
  public record Summary(int scored, int errors, double meanReward, String firstError) {}

  /** The question a tree answers. @param reference null when the reward function needs none */
  public record Problem(String prompt, String reference) {
    public Problem {
      if (prompt == null) {
        throw new TreeRollException("problem: prompt is null (use \"\" for no prompt)");
      }
    }
  }

  /**
   * Scores every leaf of every tree.
   *
   * @param decoder turns a leaf's response tokens ({@link RolloutTree#responseTokens}) into text
   * @param prompts the prompt text of each tree, in the order of {@code trees}
   * @param references the reference answer of each tree, or null when the function needs none
   */
  public CompletableFuture<Summary> scoreAll(List<RolloutTree> trees, Function<int[], String> decoder,
      List<String> prompts, List<String> references) {
    if (trees == null || decoder == null || prompts == null) {
      throw new TreeRollException("tree rewards: " + (trees == null ? "trees" : decoder == null ? "decoder" : "prompts")
          + " is null");
    }
    if (prompts.size() != trees.size()) {
      throw new TreeRollException("tree rewards: prompts has " + prompts.size() + " entries for " + trees.size() + " trees");
    }
    if (references != null && references.size() != trees.size()) {
      throw new TreeRollException("tree rewards: references has " + references.size() + " entries for "
          + trees.size() + " trees");
    }
    Batch batch = batch();
    for (int i = 0; i < trees.size(); i++) {
      RolloutTree tree = trees.get(i);
      batch.add(tree, new Problem(prompts.get(i), references == null ? null : references.get(i)));
      for (SegmentNode leaf : tree.leaves()) {
        String response;
        try {
          response = decoder.apply(RolloutTree.responseTokens(leaf));
        } catch (RuntimeException e) {
          batch.failed(tree, leaf, "cannot decode the response: " + e);
          continue;
        }
        batch.submit(tree, leaf, response);
      }
    }
    return batch.awaitAll();
  }

  /** A new batch, to which trees are added and then leaves submitted as they finish. */
  public Batch batch() {
    return new Batch();
  }

  /** Leaves scored together; thread-safe. */
  public final class Batch {
    private final Map<RolloutTree, Problem> problems = Collections.synchronizedMap(new IdentityHashMap<>());
    private final Set<SegmentNode> submitted = Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<CompletableFuture<Reward>> pending = new ArrayList<>();
    private boolean closed;
    private int scored;
    private int errors;
    private double sum;
    private String firstError;

    private Batch() {}

    /**
     * Registers the problem of {@code tree}, before any of its leaves is submitted, and records its
     * reference on the tree (a dump keeps it, so the answers can be scored again offline).
     */
    public Batch add(RolloutTree tree, Problem problem) {
      if (tree == null || problem == null) {
        throw new TreeRollException("tree rewards: " + (tree == null ? "tree" : "problem") + " is null");
      }
      Problem before = problems.putIfAbsent(tree, problem);
      if (before != null && !before.equals(problem)) {
        throw new TreeRollException("tree rewards: tree " + tree.id() + " is already added with another problem");
      }
      if (before == null && problem.reference() != null) {
        tree.setReference(problem.reference());
      }
      return this;
    }

    public Batch add(RolloutTree tree, String prompt, String reference) {
      return add(tree, new Problem(prompt, reference));
    }

    /**
     * Starts scoring a finished answer; returns at once. The future completes (normally) with the
     * reward once it is written onto the leaf.
     */
    public CompletableFuture<Reward> submit(RolloutTree tree, SegmentNode leaf, String response) {
      if (response == null) {
        throw new TreeRollException("tree rewards: response of leaf " + (leaf == null ? "?" : leaf.id()) + " is null");
      }
      Problem problem = claim(tree, leaf);
      CompletableFuture<Reward> scoring;
      try {
        scoring = function.score(new RewardRequest(problem.prompt(), response, problem.reference()));
      } catch (RuntimeException e) {
        scoring = CompletableFuture.failedFuture(e);
      }
      if (scoring == null) {
        scoring = CompletableFuture.failedFuture(new IllegalStateException("score returned null"));
      }
      return track(leaf, scoring.handle((r, e) -> e != null ? Reward.failed(function.name() + " failed: " + cause(e))
          : r == null ? Reward.failed(function.name() + " returned no reward") : r));
    }

    /** Records a leaf that cannot be scored at all, e.g. its tokens did not decode. */
    void failed(RolloutTree tree, SegmentNode leaf, String error) {
      claim(tree, leaf);
      track(leaf, CompletableFuture.completedFuture(Reward.failed(error)));
    }

    /**
     * Closes the batch to new leaves; the future completes once every submitted leaf has its
     * verdict written.
     */
    public CompletableFuture<Summary> awaitAll() {
      CompletableFuture<?>[] all;
      synchronized (this) {
        closed = true;
        all = pending.toArray(CompletableFuture[]::new);
      }
      return CompletableFuture.allOf(all).thenApply(v -> summary());
    }

    /** What has been scored so far. */
    public synchronized Summary summary() {
      return new Summary(scored, errors, scored == 0 ? Double.NaN : sum / scored, firstError);
    }

    private synchronized Problem claim(RolloutTree tree, SegmentNode leaf) {
      if (tree == null || leaf == null) {
        throw new TreeRollException("tree rewards: " + (tree == null ? "tree" : "leaf") + " is null");
      }
      if (closed) {
        throw new TreeRollException("tree rewards: the batch is closed (awaitAll was called); leaf " + leaf.id()
            + " of tree " + tree.id() + " comes too late");
      }
      Problem problem = problems.get(tree);
      if (problem == null) {
        throw new TreeRollException("tree rewards: tree " + tree.id() + " has no problem; add(tree, prompt, reference) first");
      }
      if (RolloutTree.path(leaf).get(0) != tree.root()) {
        throw new TreeRollException("tree rewards: leaf " + leaf.id() + " is not in tree " + tree.id());
      }
      if (leaf.isRootNode() || !leaf.isLeaf()) {
        throw new TreeRollException("tree rewards: node " + leaf.id() + " of tree " + tree.id() + " is not a leaf");
      }
      if (!submitted.add(leaf)) {
        throw new TreeRollException("tree rewards: leaf " + leaf.id() + " of tree " + tree.id() + " is already submitted");
      }
      return problem;
    }

    private synchronized CompletableFuture<Reward> track(SegmentNode leaf, CompletableFuture<Reward> scoring) {
      CompletableFuture<Reward> done = scoring.thenApplyAsync(r -> {
        apply(leaf, r);
        return r;
      }, applyOn);
      pending.add(done);
      return done;
    }

    private void apply(SegmentNode leaf, Reward r) {
      SegmentNode target = leaf; // splits keep an answer's last node the same object
      if (r.ok()) {
        target.setReward(r.value());
      } else {
        target.setRewardError(r.error());
      }
      synchronized (this) {
        if (r.ok()) {
          scored++;
          sum += r.value();
        } else {
          errors++;
          firstError = firstError == null ? r.error() : firstError;
        }
      }
    }
  }

  private static String cause(Throwable e) {
    Throwable t = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
  }
}
