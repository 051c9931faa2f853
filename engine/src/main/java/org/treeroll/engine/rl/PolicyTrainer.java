package org.treeroll.engine.rl;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.io.SafetensorsWriter;
import org.treeroll.engine.io.UpdateTensor;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.WeightNames;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.engine.train.AdamW;
import org.treeroll.engine.train.TrainableDecoder;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.TreeRollException;

/**
 * The policy side of the RL loop: a {@link TrainableDecoder} starting from the engine's
 * checkpoint, AdamW, and the clipped surrogate ({@link ClippedSurrogate}) over minibatches of
 * sampled paths. Log-probs are taken at the sampling temperature, as the engine records them,
 * so before the first update of a step the importance ratio is 1 up to numerics; that mismatch
 * is measured on every token and checked before any weight moves.
 */
public final class PolicyTrainer implements AutoCloseable {
  /**
   * @param learningRate AdamW's step size once warmed up
   * @param warmup batches over which the step size rises linearly to {@code learningRate}: Adam's
   *     first steps move every weight by about the step size whatever its gradient, which a
   *     noisy policy gradient turns into damage
   * @param clip PPO's eps: ratios are clipped to [1 - eps, 1 + eps]
   * @param temperature the engine's sampling temperature (its log-probs are at it)
   * @param minibatches optimizer steps per pass over a batch of paths
   * @param epochs passes over each batch (PPO epochs); after the first, ratios leave 1 and the
   *     clip bounds how far the policy moves from the one that sampled
   * @param kl weight of the KL penalty to the initial model (k3 estimator, token-mean); 0 for none
   * @param maxMismatch largest |trainer - engine| log-prob accepted before an update
   */
  public record Settings(double learningRate, int warmup, double clip, double temperature, int minibatches,
      int epochs, double kl, double maxMismatch) {
    public Settings {
      if (!(learningRate > 0)) {
        throw new TreeRollException("--lr must be > 0, got " + learningRate);
      }
      if (warmup < 0) {
        throw new TreeRollException("--warmup must be >= 0, got " + warmup);
      }
      if (epochs <= 0) {
        throw new TreeRollException("--epochs must be > 0, got " + epochs);
      }
      if (!(kl >= 0 && Double.isFinite(kl))) {
        throw new TreeRollException("--kl must be a finite number >= 0, got " + kl);
      }
      if (!(clip > 0 && clip < 1)) {
        throw new TreeRollException("--clip must be in (0, 1), got " + clip);
      }
      if (!(temperature > 0)) {
        throw new TreeRollException("--temperature must be > 0 for policy-gradient training, got " + temperature);
      }
      if (minibatches <= 0) {
        throw new TreeRollException("--minibatches must be > 0, got " + minibatches);
      }
      if (!(maxMismatch > 0)) {
        throw new TreeRollException("--max-mismatch must be > 0, got " + maxMismatch);
      }
    }
  }

  /**
   * What one batch did.
   *
   * @param loss the surrogate (with the KL penalty), mean over the optimizer steps
   * @param kl the k3 KL estimate to the initial model, mean over the optimizer steps (0 without
   *     a KL penalty)
   * @param clipFraction share of counted tokens whose ratio the clip bounded, over every pass
   * @param mismatch trainer vs engine log-probs of every counted token, before the update
   * @param firstRatioDeviation largest |ratio - 1| of the first minibatch (before any update)
   * @param tokens counted response tokens
   * @param gradNorm the last minibatch's gradient norm before clipping
   */
  public record Update(double loss, double kl, double clipFraction, Mismatch mismatch, double firstRatioDeviation,
      int tokens, double gradNorm) {}

  private final ModelConfig cfg;
  private final Settings settings;
  private final NDManager base;
  private final TrainableDecoder model;
  private final TrainableDecoder reference;
  private final AdamW optimizer;
  private int batchesSeen;

  public PolicyTrainer(ModelConfig cfg, List<NamedTensor> weights, Settings settings) {
    this.cfg = cfg;
    this.settings = settings;
    this.base = NDManager.newBaseManager(DjlRuntime.device());
    this.model = TrainableDecoder.of(cfg, weights, base);
    this.reference = settings.kl() > 0 ? TrainableDecoder.of(cfg, weights, base) : null;
    // No weight decay: it would pull the policy toward zero, not toward the initial model (the
    // KL penalty does that). beta2 0.999: a policy gradient's scale varies from batch to batch,
    // and a short second-moment memory turns each batch's noise into full-size steps.
    this.optimizer = new AdamW(model.parameters(), base, 0.9, 0.999, 1e-8, 0.0, 1.0);
  }

  /** The checkpoint the engine loaded, as the tensors a trainer starts from. */
  public static List<NamedTensor> checkpoint(LoadedModel model) {
    WeightUpdate files = WeightUpdate.fromDirectory(model.dir());
    List<NamedTensor> out = new ArrayList<>();
    for (Map.Entry<String, long[]> e : WeightNames.shapes(model.config()).entrySet()) {
      out.add(new NamedTensor(e.getKey(), e.getValue(), files.readFloats(e.getKey())));
    }
    return out;
  }

  /** {@link #train(List, double)} at the full learning rate (after warm-up). */
  public Update train(List<SampledPath> paths) {
    return train(paths, 1.0);
  }

  /**
   * Clipped policy-gradient steps on {@code paths}, split in order into
   * {@link Settings#minibatches} minibatches (one optimizer step each). Fails, changing nothing,
   * when the mismatch exceeds {@link Settings#maxMismatch}. The step size is the learning rate
   * times the warm-up's factor times {@code lrScale} (a decay schedule's, in (0, 1]).
   */
  public Update train(List<SampledPath> paths, double lrScale) {
    List<PolicyBatch> batches = new ArrayList<>();
    int k = Math.min(settings.minibatches(), paths.size());
    for (int i = 0; i < k; i++) {
      List<SampledPath> part = paths.subList(i * paths.size() / k, (i + 1) * paths.size() / k);
      PolicyBatch b = PolicyBatch.of(part, cfg.vocabSize(), cfg.eosTokenIds()[0]);
      if (b.counted() > 0) {
        batches.add(b);
      }
    }
    if (batches.isEmpty()) {
      return new Update(0, 0, 0, new Mismatch(0, 0, 0), 0, 0, 0);
    }
    batchesSeen++;
    double lr = settings.learningRate() * lrScale
        * Math.min(1.0, batchesSeen / (double) Math.max(1, settings.warmup()));
    Mismatch.Accumulator mismatch = new Mismatch.Accumulator();
    // Minibatches after the first are measured now, before the first step moves the weights.
    for (int i = 1; i < batches.size(); i++) {
      try (NDScope scope = new NDScope(); NDManager m = base.newSubManager()) {
        mismatch.add(logProbs(m, model, batches.get(i)).toFloatArray(), batches.get(i));
      }
    }
    List<float[]> referenceLogProbs = new ArrayList<>();
    if (reference != null) {
      for (PolicyBatch b : batches) {
        try (NDScope scope = new NDScope(); NDManager m = base.newSubManager()) {
          referenceLogProbs.add(logProbs(m, reference, b).toFloatArray());
        }
      }
    }
    double lossSum = 0;
    double klSum = 0;
    long clipped = 0;
    long passes = 0;
    double firstDeviation = 0;
    double norm = 0;
    int tokens = 0;
    for (int epoch = 0; epoch < settings.epochs(); epoch++) {
      for (int i = 0; i < batches.size(); i++) {
        PolicyBatch b = batches.get(i);
        if (epoch == 0) {
          tokens += b.counted();
        }
        try (NDScope scope = new NDScope(); NDManager m = base.newSubManager()) {
          try (GradientCollector gc = Engine.getEngine("PyTorch").newGradientCollector()) {
            NDArray logp = logProbs(m, model, b);
            NDArray mask = m.create(b.mask());
            NDArray loss = ClippedSurrogate.loss(logp, m.create(b.oldLogProbs()), m.create(b.advantages()), mask,
                settings.clip(), b.counted());
            float[] lp = logp.toFloatArray();
            if (epoch == 0 && i == 0) {
              mismatch.add(lp, b);
              firstDeviation = ratioDeviation(lp, b);
              Mismatch seen = mismatch.result();
              if (!(seen.max() <= settings.maxMismatch())) {
                throw new TreeRollException(String.format(Locale.ROOT,
                    "train-inference mismatch: max |trainer - engine| log-prob %.3g over %d tokens exceeds"
                        + " --max-mismatch %.3g (mean %.3g); the weights were not updated",
                    seen.max(), seen.tokens(), settings.maxMismatch(), seen.mean()));
              }
            }
            clipped += clippedTokens(lp, b, settings.clip());
            passes += b.counted();
            if (reference != null) {
              NDArray kl = ClippedSurrogate.klToReference(logp, m.create(referenceLogProbs.get(i)), mask, b.counted());
              klSum += kl.getFloat();
              loss = loss.add(kl.mul((float) settings.kl()));
            }
            gc.backward(loss);
            lossSum += loss.getFloat();
          }
          norm = optimizer.step(model.parameters(), lr);
        }
      }
    }
    int updates = settings.epochs() * batches.size();
    return new Update(lossSum / updates, klSum / updates, clipped / (double) passes, mismatch.result(),
        firstDeviation, tokens, norm);
  }

  /**
   * Teacher-forced log-probs of tokens {@code 1..n-1} of each sequence at {@code temperature}
   * under the current weights, as {@code InferenceSession.score} returns them.
   */
  public List<float[]> score(List<int[]> sequences, double temperature) {
    List<SampledPath> paths = new ArrayList<>();
    for (int[] s : sequences) {
      int[] response = Arrays.copyOfRange(s, 1, s.length);
      byte[] mask = new byte[response.length];
      Arrays.fill(mask, (byte) 1);
      paths.add(new SampledPath(new int[] {s[0]}, response, new float[response.length],
          new float[response.length], mask));
    }
    PolicyBatch b = PolicyBatch.of(paths, cfg.vocabSize(), cfg.eosTokenIds()[0]);
    float[] lp;
    try (NDScope scope = new NDScope(); NDManager m = base.newSubManager()) {
      lp = logProbs(m, model, b, temperature).toFloatArray();
    }
    List<float[]> out = new ArrayList<>();
    for (int r = 0; r < sequences.size(); r++) {
      out.add(Arrays.copyOfRange(lp, r * b.length(), r * b.length() + sequences.get(r).length - 1));
    }
    return out;
  }

  /** The current weights as F32 tensors with their HF names, for {@code updateWeights}. */
  public List<UpdateTensor> weights() {
    List<UpdateTensor> out = new ArrayList<>();
    for (NamedTensor t : model.tensors()) {
      out.add(UpdateTensor.f32(t.name(), t.shape(), t.data()));
    }
    return out;
  }

  /**
   * Writes the current weights as a model directory: {@code source}'s files (config, tokenizer,
   * generation settings) copied, the weights as one F32 {@code model.safetensors}. Every file is
   * written atomically; a directory that already holds weights is refused.
   */
  public void save(Path source, Path dir) {
    refuseExistingWeights(dir);
    try {
      Files.createDirectories(dir);
      AtomicFile.removeStale(dir, List.of("model.safetensors"));
      try (Stream<Path> files = Files.list(source)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          String name = f.getFileName().toString();
          if (!name.endsWith(".safetensors") && !name.equals("model.safetensors.index.json")) {
            AtomicFile.removeStale(dir, List.of(name));
            AtomicFile.write(dir.resolve(name), tmp -> Files.copy(f, tmp, StandardCopyOption.REPLACE_EXISTING));
          }
        }
      }
    } catch (IOException e) {
      throw new TreeRollException("--save " + dir + ": cannot write: " + e.getMessage(), e);
    }
    SafetensorsWriter.write(dir.resolve("model.safetensors"), model.tensors(), DType.F32,
        Map.of("format", "pt", "treeroll_trained_by", "train-rl"));
  }

  /** Refuses a {@link #save} target that already holds weights, before a run spends its time. */
  public static void refuseExistingWeights(Path dir) {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (Stream<Path> files = Files.list(dir)) {
      if (files.anyMatch(f -> f.getFileName().toString().endsWith(".safetensors"))) {
        throw new TreeRollException("--save " + dir + ": already holds weights; name a new directory");
      }
    } catch (IOException e) {
      throw new TreeRollException("--save " + dir + ": cannot read: " + e.getMessage(), e);
    }
  }

  private NDArray logProbs(NDManager m, TrainableDecoder decoder, PolicyBatch b) {
    return logProbs(m, decoder, b, settings.temperature());
  }

  /** Log-prob of each position's target token, 0 where there is none: {@code [rows * length]}. */
  private NDArray logProbs(NDManager m, TrainableDecoder decoder, PolicyBatch b, double temperature) {
    NDArray in = m.create(b.inputOneHot(), new Shape((long) b.rows() * b.length(), b.vocab()));
    NDArray target = m.create(b.targetOneHot(), new Shape((long) b.rows() * b.length(), b.vocab()));
    NDArray logits = decoder.forward(in, b.rows(), b.length()).reshape(target.getShape());
    return logits.div((float) temperature).logSoftmax(-1).mul(target).sum(new int[] {1});
  }

  /** Counted tokens whose advantage pushes the ratio past the clip, where the surrogate is flat. */
  private static int clippedTokens(float[] logp, PolicyBatch b, double clip) {
    int n = 0;
    for (int i = 0; i < logp.length; i++) {
      if (b.mask()[i] != 0) {
        double r = Math.exp(logp[i] - b.oldLogProbs()[i]);
        float a = b.advantages()[i];
        if (a > 0 && r > 1 + clip || a < 0 && r < 1 - clip) {
          n++;
        }
      }
    }
    return n;
  }

  private static double ratioDeviation(float[] logp, PolicyBatch b) {
    double worst = 0;
    for (int i = 0; i < logp.length; i++) {
      if (b.mask()[i] != 0) {
        worst = Math.max(worst, Math.abs(Math.exp(logp[i] - b.oldLogProbs()[i]) - 1));
      }
    }
    return worst;
  }

  @Override
  public void close() {
    optimizer.close();
    model.close();
    if (reference != null) {
      reference.close();
    }
    base.close();
  }
}
