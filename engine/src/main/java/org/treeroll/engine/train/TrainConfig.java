package org.treeroll.engine.train;

import org.treeroll.engine.model.Architecture;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.tree.TreeRollException;

/**
 * One training run on the arithmetic task.
 *
 * @param model the decoder's shape (Llama or Qwen3, no biases)
 * @param steps optimizer steps
 * @param batch sequences per step
 * @param learningRate peak learning rate, reached after {@code warmupSteps} linear steps, then
 *     cosine decay to {@code learningRate * minLrRatio} at the last step
 * @param weightDecay AdamW's decoupled decay, on matrices only (not norms)
 * @param gradClip global gradient-norm clip, 0 for none
 * @param seed seeds both the initial weights and the training problems
 * @param levelWeights relative weights of difficulty levels 1..n in the training mix
 */
public record TrainConfig(
    ModelConfig model,
    int steps,
    int batch,
    double learningRate,
    double minLrRatio,
    int warmupSteps,
    double weightDecay,
    double gradClip,
    long seed,
    double[] levelWeights) {

  public TrainConfig {
    if (steps <= 0) {
      throw new TreeRollException("steps must be > 0, got " + steps);
    }
    if (batch <= 0) {
      throw new TreeRollException("batch must be > 0, got " + batch);
    }
    if (!(learningRate > 0)) {
      throw new TreeRollException("learning rate must be > 0, got " + learningRate);
    }
    if (!(minLrRatio >= 0 && minLrRatio <= 1)) {
      throw new TreeRollException("min learning-rate ratio must be in [0, 1], got " + minLrRatio);
    }
    if (warmupSteps < 0) {
      throw new TreeRollException("warmup steps must be >= 0, got " + warmupSteps);
    }
    levelWeights = levelWeights.clone();
  }

  /** The bundled model's shape: Qwen3, hidden 192, 4 layers, 6 query / 2 KV heads of 32. */
  public static ModelConfig defaultModel() {
    return new ModelConfig(Architecture.QWEN3, 256 + ModelPreset.TINY_SPECIAL_TOKENS.length,
        192, 512, 4, 6, 2, 32, 1e-6, 10000, 512, true, false, -1, new int[] {256});
  }

  /** The recipe of the bundled model (models/treeroll-arith). */
  public static TrainConfig defaults() {
    return new TrainConfig(defaultModel(), 1000, 32, 2e-3, 0.1, 60, 0.01, 1.0, 1, new double[] {1, 1, 1, 1});
  }

  public TrainConfig withSteps(int s) {
    return new TrainConfig(model, s, batch, learningRate, minLrRatio, warmupSteps, weightDecay, gradClip, seed, levelWeights);
  }

  public TrainConfig withBatch(int b) {
    return new TrainConfig(model, steps, b, learningRate, minLrRatio, warmupSteps, weightDecay, gradClip, seed, levelWeights);
  }

  public TrainConfig withSeed(long s) {
    return new TrainConfig(model, steps, batch, learningRate, minLrRatio, warmupSteps, weightDecay, gradClip, s, levelWeights);
  }

  public TrainConfig withLearningRate(double lr) {
    return new TrainConfig(model, steps, batch, lr, minLrRatio, warmupSteps, weightDecay, gradClip, seed, levelWeights);
  }

  public TrainConfig withWarmupSteps(int w) {
    return new TrainConfig(model, steps, batch, learningRate, minLrRatio, w, weightDecay, gradClip, seed, levelWeights);
  }

  public TrainConfig withModel(ModelConfig m) {
    return new TrainConfig(m, steps, batch, learningRate, minLrRatio, warmupSteps, weightDecay, gradClip, seed, levelWeights);
  }

  public TrainConfig withLevelWeights(double... w) {
    return new TrainConfig(model, steps, batch, learningRate, minLrRatio, warmupSteps, weightDecay, gradClip, seed, w);
  }

  /** The learning rate of step {@code step} (0-based). */
  public double learningRateAt(int step) {
    if (step < warmupSteps) {
      return learningRate * (step + 1) / warmupSteps;
    }
    int decaySteps = Math.max(1, steps - warmupSteps - 1);
    double progress = Math.min(1.0, (double) (step - warmupSteps) / decaySteps);
    double cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
    return learningRate * (minLrRatio + (1 - minLrRatio) * cosine);
  }
}
