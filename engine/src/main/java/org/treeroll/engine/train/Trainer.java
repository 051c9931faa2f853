package org.treeroll.engine.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.engine.task.ArithmeticTask;

/**
 * Trains a {@link TrainableDecoder} on the arithmetic task's train split: next-token
 * cross-entropy on the solution tokens and the final EOS only (the prompt is masked), AdamW,
 * linear warmup then cosine decay. The data and initial weights are fixed by the config's seed;
 * runs are not bitwise identical (CPU kernels round differently from run to run) but end alike.
 * Each step's arrays live in an {@link NDScope}, so memory stays flat.
 */
public final class Trainer {
  /** Reports each step as it completes. */
  public interface Listener {
    void onStep(int step, double loss, double learningRate, double gradNorm);
  }

  /** The trained weights and the loss of every step. */
  /**
   * @param skippedSteps steps whose update was skipped because the gradient was not finite
   */
  public record Result(ModelConfigAndTensors weights, double[] losses, double seconds, int skippedSteps) {
    /** Mean finite loss of the last {@code min(50, steps)} steps. */
    public double finalLoss() {
      int n = Math.min(50, losses.length);
      double s = 0;
      int counted = 0;
      for (int i = losses.length - n; i < losses.length; i++) {
        if (Double.isFinite(losses[i])) {
          s += losses[i];
          counted++;
        }
      }
      return counted == 0 ? Double.NaN : s / counted;
    }
  }

  /** A config with the tensors of a checkpoint in its layout. */
  public record ModelConfigAndTensors(org.treeroll.engine.model.ModelConfig config, List<NamedTensor> tensors) {}

  private Trainer() {}

  public static Result train(TrainConfig c, Listener listener) {
    return train(c, listener, 0, null);
  }

  /**
   * As {@link #train(TrainConfig, Listener)}, handing the weights to {@code checkpoint} every
   * {@code every} steps (0 for never) so a long run can be inspected while it goes.
   */
  public static Result train(TrainConfig c, Listener listener, int every,
      java.util.function.BiConsumer<Integer, List<NamedTensor>> checkpoint) {
    DjlRuntime.device();
    ArithmeticTask task = new ArithmeticTask(c.levelWeights());
    double[] losses = new double[c.steps()];
    long start = System.nanoTime();
    try (NDManager base = NDManager.newBaseManager(DjlRuntime.device());
        TrainableDecoder model = TrainableDecoder.initialize(c.model(), c.seed(), base);
        AdamW opt = new AdamW(model.parameters(), base, 0.9, 0.95, 1e-8, c.weightDecay(), c.gradClip())) {
      for (int step = 0; step < c.steps(); step++) {
        Batch b = Batch.of(task, c.seed(), (long) step * c.batch(), c.batch(), c.model().vocabSize(),
            c.model().eosTokenIds()[0]);
        double lr = c.learningRateAt(step);
        double loss;
        double norm;
        try (NDScope scope = new NDScope(); NDManager m = base.newSubManager()) {
          NDArray oneHot = m.create(b.inputOneHot, new Shape((long) b.rows * b.length, b.vocab));
          NDArray targets = m.create(b.targetOneHot, new Shape((long) b.rows * b.length, b.vocab));
          try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
            NDArray logits = model.forward(oneHot, b.rows, b.length);
            NDArray l = model.loss(logits, targets, b.counted);
            gc.backward(l);
            loss = l.getFloat();
          }
          norm = opt.step(model.parameters(), lr);
        }
        losses[step] = loss;
        if (listener != null) {
          listener.onStep(step, loss, lr, norm);
        }
        if (every > 0 && checkpoint != null && (step + 1) % every == 0 && step + 1 < c.steps()) {
          checkpoint.accept(step + 1, model.tensors());
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      return new Result(new ModelConfigAndTensors(c.model(), model.tensors()), losses, seconds,
          opt.skippedSteps());
    }
  }

  /**
   * A right-padded batch as one-hot matrices {@code [rows * length, vocab]}: inputs (every
   * position but the last of prompt + solution + EOS) and targets (the next token, only where it
   * belongs to the solution or is the EOS).
   */
  static final class Batch {
    int rows;
    int length;
    int vocab;
    int counted;
    float[] inputOneHot;
    float[] targetOneHot;
    List<int[]> sequences = new ArrayList<>();

    static Batch of(ArithmeticTask task, long seed, long firstIndex, int rows, int vocab, int eos) {
      Batch b = new Batch();
      b.rows = rows;
      b.vocab = vocab;
      List<Integer> promptLens = new ArrayList<>();
      int max = 0;
      for (int i = 0; i < rows; i++) {
        ArithmeticTask.Problem p = task.problem(ArithmeticTask.Split.TRAIN, seed, firstIndex + i);
        byte[] prompt = p.prompt().getBytes(StandardCharsets.UTF_8);
        byte[] sol = p.solution().getBytes(StandardCharsets.UTF_8);
        int[] seq = new int[prompt.length + sol.length + 1];
        for (int j = 0; j < prompt.length; j++) {
          seq[j] = prompt[j] & 0xff;
        }
        for (int j = 0; j < sol.length; j++) {
          seq[prompt.length + j] = sol[j] & 0xff;
        }
        seq[seq.length - 1] = eos;
        b.sequences.add(seq);
        promptLens.add(prompt.length);
        max = Math.max(max, seq.length - 1);
      }
      b.length = max;
      b.inputOneHot = new float[rows * max * vocab];
      b.targetOneHot = new float[rows * max * vocab];
      for (int r = 0; r < rows; r++) {
        int[] seq = b.sequences.get(r);
        int promptLen = promptLens.get(r);
        for (int t = 0; t < max; t++) {
          int row = r * max + t;
          int in = t < seq.length - 1 ? seq[t] : eos; // padding: EOS, never a target
          b.inputOneHot[row * vocab + in] = 1f;
          if (t < seq.length - 1 && t + 1 >= promptLen) {
            b.targetOneHot[row * vocab + seq[t + 1]] = 1f;
            b.counted++;
          }
        }
      }
      return b;
    }
  }
}
