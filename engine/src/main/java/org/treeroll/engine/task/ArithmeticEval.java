package org.treeroll.engine.task;

import java.util.ArrayList;
import java.util.List;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.sampling.SamplingParams;

/** Measures a model's accuracy on held-out arithmetic problems by sampling with the engine. */
public final class ArithmeticEval {
  /** Response tokens at most: the longest worked solution is well under this. */
  public static final int MAX_TOKENS = 128;
  /** Problem seed of the documented held-out measurement (docs/model.md). */
  public static final long DEFAULT_PROBLEM_SEED = 1000;
  /** Sampling seed of the documented held-out measurement. */
  public static final long DEFAULT_SAMPLING_SEED = 7;

  /**
   * @param correctByLevel correct answers per difficulty level (index 0 = level 1)
   * @param totalByLevel problems per level
   * @param examples the first few (prompt, response, correct) triples, for logs
   */
  public record Result(int correct, int total, int[] correctByLevel, int[] totalByLevel,
      List<String> examples) {
    public double accuracy() {
      return total == 0 ? 0 : (double) correct / total;
    }

    public double accuracy(int level) {
      int t = totalByLevel[level - 1];
      return t == 0 ? Double.NaN : (double) correctByLevel[level - 1] / t;
    }
  }

  private ArithmeticEval() {}

  /**
   * Samples one response to each of {@code count} held-out problems (indices 0..count-1 of
   * {@code problemSeed}) and verifies it.
   */
  public static Result heldOut(LoadedModel model, ArithmeticTask task, long problemSeed, int count,
      double temperature, long samplingSeed) {
    try (InferenceSession session = new InferenceSession(model, 64L << 20)) {
      return heldOut(session, task, problemSeed, count, temperature, samplingSeed);
    }
  }

  /**
   * As {@link #heldOut(LoadedModel, ArithmeticTask, long, int, double, long)} on a running
   * session, under whatever weights it serves now (an RL trainer measures its policy so).
   */
  public static Result heldOut(InferenceSession session, ArithmeticTask task, long problemSeed, int count,
      double temperature, long samplingSeed) {
    LoadedModel model = session.model();
    List<ArithmeticTask.Problem> problems = task.problems(ArithmeticTask.Split.HELD_OUT, problemSeed, count);
    int levels = ArithmeticTask.Level.values().length;
    int[] correctBy = new int[levels];
    int[] totalBy = new int[levels];
    List<String> examples = new ArrayList<>();
    int correct = 0;
    List<int[]> prompts = new ArrayList<>();
    for (ArithmeticTask.Problem p : problems) {
      prompts.add(model.tokenizer().encodePrompt(p.prompt()));
    }
    SamplingParams params = SamplingParams.defaults().withTemperature(temperature)
        .withSeed(samplingSeed).withMaxTokens(MAX_TOKENS);
    List<Completion> out = session.generate(prompts, params).join();
    for (int i = 0; i < problems.size(); i++) {
      ArithmeticTask.Problem p = problems.get(i);
      String response = model.tokenizer().decode(out.get(i).tokens(), true);
      boolean ok = ArithmeticTask.verify(p, response);
      int li = p.level().number() - 1;
      totalBy[li]++;
      if (ok) {
        correct++;
        correctBy[li]++;
      }
      if (examples.size() < 8) {
        examples.add(p.prompt() + response + (ok ? "[correct]" : "[wrong, expected " + p.answer() + "]"));
      }
    }
    return new Result(correct, problems.size(), correctBy, totalBy, examples);
  }
}
