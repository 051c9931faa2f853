package org.treeroll.engine.rl;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.DoubleSummaryStatistics;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.advantage.PathAdvantage;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.RewardedRollouts;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.scheduler.WeightSwapPolicy;
import org.treeroll.engine.task.ArithmeticEval;
import org.treeroll.engine.task.ArithmeticTask;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.RewardFunctions;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.TreeRollException;

/**
 * The RL loop on a running engine and the arithmetic task: sample a batch of train problems
 * (reward {@code math}), compute advantages, update the policy, push the weights into the engine
 * (version + 1, requests in flight finish first), and now and then measure held-out accuracy on a
 * fixed set. Writes {@value #METRICS} (one {@link RlStep} per line) and {@value #PLOT}.
 */
public final class RlRun {
  public static final String METRICS = "metrics.jsonl";
  public static final String PLOT = "heldout-accuracy.svg";
  static final double DECAY_FLOOR = 0.1;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Hears each line as it is written. */
  public interface Listener {
    void onStep(RlStep step);
  }

  private RlRun() {}

  /** Runs {@code c} on {@code session}, whose weights must be those {@code trainer} holds. */
  public static List<RlStep> run(RlConfig c, InferenceSession session, PolicyTrainer trainer, Path out,
      Listener listener) {
    ArithmeticTask task = ArithmeticTask.defaultMix();
    double temperature = c.trainer().temperature();
    List<RlStep> steps = new ArrayList<>();
    long start = System.nanoTime();
    Path metrics = out.resolve(METRICS);
    try (RewardFunction reward = RewardFunctions.create("math")) {
      Files.createDirectories(out);
      RewardedRollouts rollouts = new RewardedRollouts(session, reward, AdvantageEstimators.create(c.estimator()));
      try (BufferedWriter w = Files.newBufferedWriter(metrics, StandardCharsets.UTF_8)) {
        long version = session.stats().join().weightVersion();
        RlStep initial = new RlStep(0, 0, Double.NaN, 0, 0, heldOut(session, task, c, temperature), Double.NaN,
            Double.NaN, Double.NaN, Double.NaN, Double.NaN, version, seconds(start));
        record(initial, steps, w, listener);
        long tokens = 0;
        boolean spent = false;
        for (int s = 1; s <= c.steps() && !spent; s++) {
          List<TreeRewards.Problem> problems = new ArrayList<>();
          for (int i = 0; i < c.problemsPerStep(); i++) {
            ArithmeticTask.Problem p = task.problem(ArithmeticTask.Split.TRAIN, c.seed(),
                (long) (s - 1) * c.problemsPerStep() + i);
            problems.add(new TreeRewards.Problem(p.prompt(), Long.toString(p.answer())));
          }
          SamplingParams params = SamplingParams.defaults().withTemperature(temperature)
              .withMaxTokens(c.rollout().maxTokens()).withSeed(c.seed() * 1_000_003L + s);
          RewardedRollouts.Result r = rollouts.run(problems, c.rollout(), params, n -> {});
          for (RolloutTree t : r.trees()) {
            if (t.weightVersion() != version) {
              throw new IllegalStateException("tree " + t.id() + " sampled under weights " + t.weightVersion()
                  + ", the trainer holds " + version);
            }
          }
          tokens += r.stats().computedTokens();
          spent = c.tokenBudget() > 0 && tokens >= c.tokenBudget();
          List<SampledPath> paths = paths(r, c.filterUniform());
          // Minibatches mix problems: without a shuffle each would hold a few whole groups.
          Collections.shuffle(paths, new Random(c.seed() * 31 + s));
          PolicyTrainer.Update u = trainer.train(paths, c.decay() ? cosineDecay(c, s, tokens) : 1.0);
          version = session.updateWeights(WeightUpdate.fromTensors(trainer.weights()),
              WeightSwapPolicy.waitForRequests()).join();
          boolean eval = s % c.evalEvery() == 0 || s == c.steps() || spent;
          double acc = eval ? heldOut(session, task, c, temperature) : Double.NaN;
          record(new RlStep(s, tokens, r.rewards().meanReward(), r.leaves(), paths.size(), acc, u.mismatch().max(),
              u.mismatch().mean(), u.loss(), u.kl(), u.clipFraction(), version, seconds(start)), steps, w, listener);
          if (eval) {
            plot(out.resolve(PLOT), List.of(LearningCurve.ofRun(c.name(), steps)), c.name());
          }
        }
      }
    } catch (IOException e) {
      throw new TreeRollException(metrics + ": cannot write: " + e.getMessage(), e);
    }
    return steps;
  }

  /**
   * Every answer with its engine log-probs and advantages; answers without a reward are masked.
   * With {@code filterUniform}, the answers of a tree whose rewarded answers all got the same
   * reward are left out.
   */
  static List<SampledPath> paths(RewardedRollouts.Result r, boolean filterUniform) {
    Map<RolloutTree, DoubleSummaryStatistics> rewards = new IdentityHashMap<>();
    for (PathAdvantage a : r.advantages().paths()) {
      if (a.included()) {
        rewards.computeIfAbsent(a.tree(), t -> new DoubleSummaryStatistics()).accept(a.leaf().reward());
      }
    }
    List<SampledPath> out = new ArrayList<>();
    for (PathAdvantage a : r.advantages().paths()) {
      DoubleSummaryStatistics tree = rewards.get(a.tree());
      if (filterUniform && (tree == null || tree.getMin() == tree.getMax())) {
        continue;
      }
      out.add(new SampledPath(a.tree().prompt(), RolloutTree.responseTokens(a.leaf()),
          RolloutTree.responseLogProbs(a.leaf()), a.tokenAdvantages(), a.responseMask()));
    }
    return out;
  }

  private static double heldOut(InferenceSession session, ArithmeticTask task, RlConfig c, double temperature) {
    return ArithmeticEval.heldOut(session, task, ArithmeticEval.DEFAULT_PROBLEM_SEED, c.evalProblems(),
        temperature, ArithmeticEval.DEFAULT_SAMPLING_SEED).accuracy();
  }

  private static void record(RlStep s, List<RlStep> steps, BufferedWriter w, Listener listener) throws IOException {
    steps.add(s);
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("step", s.step());
    line.put("sampled_tokens", s.sampledTokens());
    line.put("mean_reward", finite(s.meanReward()));
    line.put("answers", s.answers());
    line.put("trained_answers", s.trainedAnswers());
    line.put("heldout_accuracy", finite(s.heldOutAccuracy()));
    line.put("mismatch_max", finite(s.mismatchMax()));
    line.put("mismatch_mean", finite(s.mismatchMean()));
    line.put("loss", finite(s.loss()));
    line.put("kl", finite(s.kl()));
    line.put("clip_fraction", finite(s.clipFraction()));
    line.put("weight_version", s.weightVersion());
    line.put("seconds", s.seconds());
    w.write(JSON.writeValueAsString(line));
    w.newLine();
    w.flush();
    listener.onStep(s);
  }

  /**
   * Cosine decay from 1 to {@value #DECAY_FLOOR} over the run: its token budget when it has one,
   * else its steps. A lower step size late in a run lowers the noise floor a policy gradient
   * settles at.
   */
  static double cosineDecay(RlConfig c, int step, long tokens) {
    double progress = c.tokenBudget() > 0 ? tokens / (double) c.tokenBudget() : (step - 1) / (double) c.steps();
    return DECAY_FLOOR + (1 - DECAY_FLOOR) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1.0, progress)));
  }

  private static Object finite(double v) {
    return Double.isFinite(v) ? v : null;
  }

  public static void plot(Path file, List<LearningCurve> series, String title) {
    // A run killed while drawing left the plot's temporary file behind.
    AtomicFile.removeStale(file.toAbsolutePath().getParent(), List.of(file.getFileName().toString()));
    AccuracyCurveSvg.write(file, series, "held-out accuracy vs sampled tokens: " + title);
  }

  private static double seconds(long start) {
    return (System.nanoTime() - start) / 1e9;
  }
}
