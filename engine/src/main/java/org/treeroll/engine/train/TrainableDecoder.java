package org.treeroll.engine.train;

import static org.treeroll.engine.model.WeightNames.*;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.model.Architecture;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.WeightNames;
import org.treeroll.tree.TreeRollException;

/**
 * A Llama or Qwen3 decoder written with plain DJL NDArray ops, differentiable under a
 * {@code GradientCollector}: RMSNorm, RoPE (rotate-half, {@code rope_theta}), causal
 * self-attention with grouped-query heads (and Qwen3's per-head q/k norm), SwiGLU MLP. Weights
 * are held in HF's layout and names ({@link WeightNames}), so {@link #tensors()} is a checkpoint
 * the inference engine loads as is. Biases are not supported (Qwen2, attention_bias).
 *
 * <p>The forward takes a right-padded batch {@code [B, T]}: every row starts at position 0, and
 * causality keeps padding from influencing real positions. Run it inside an {@code NDScope}:
 * some temporaries (the weights' transposes) join the parameters' manager, and the scope is what
 * closes them.
 */
public final class TrainableDecoder implements AutoCloseable {
  private final ModelConfig cfg;
  private final NDManager manager;
  private final Map<String, NDArray> params = new LinkedHashMap<>();

  private TrainableDecoder(ModelConfig cfg, NDManager manager) {
    this.cfg = cfg;
    this.manager = manager;
  }

  /**
   * Fresh weights, deterministic from {@code seed}: norms 1, matrices normal with std 0.02, the
   * residual-output projections (o, down) scaled by {@code 1/sqrt(2 * layers)}.
   */
  public static TrainableDecoder initialize(ModelConfig cfg, long seed, NDManager parent) {
    check(cfg);
    List<NamedTensor> init = new ArrayList<>();
    for (Map.Entry<String, long[]> e : WeightNames.shapes(cfg).entrySet()) {
      String name = e.getKey();
      long[] shape = e.getValue();
      int size = (int) new Shape(shape).size();
      float[] v = new float[size];
      if (WeightNames.isNorm(name)) {
        java.util.Arrays.fill(v, 1f);
      } else {
        double std = 0.02;
        if (name.endsWith(O_PROJ + ".weight") || name.endsWith(DOWN_PROJ)) {
          std /= Math.sqrt(2.0 * cfg.numLayers());
        }
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        for (int i = 0; i < size; i++) {
          v[i] = (float) (gaussian(rng) * std);
        }
      }
      init.add(new NamedTensor(name, shape, v));
    }
    return of(cfg, init, parent);
  }

  /** A decoder holding the given HF-named tensors (all of {@link WeightNames#shapes}). */
  public static TrainableDecoder of(ModelConfig cfg, List<NamedTensor> tensors, NDManager parent) {
    check(cfg);
    TrainableDecoder d = new TrainableDecoder(cfg, parent.newSubManager());
    Map<String, NamedTensor> byName = new LinkedHashMap<>();
    tensors.forEach(t -> byName.put(t.name(), t));
    for (Map.Entry<String, long[]> e : WeightNames.shapes(cfg).entrySet()) {
      NamedTensor t = byName.get(e.getKey());
      if (t == null) {
        d.close();
        throw new TreeRollException("tensor '" + e.getKey() + "' missing");
      }
      NDArray a = d.manager.create(t.data(), new Shape(e.getValue()));
      a.setRequiresGradient(true);
      d.params.put(e.getKey(), a);
    }
    return d;
  }

  private static void check(ModelConfig cfg) {
    if (cfg.architecture() == Architecture.QWEN2 || cfg.attentionBias()) {
      throw new TreeRollException("training supports Llama and Qwen3 shapes without biases");
    }
  }

  public ModelConfig config() {
    return cfg;
  }

  /** The trainable arrays by HF name, in checkpoint order. */
  public Map<String, NDArray> parameters() {
    return params;
  }

  public long parameterCount() {
    long n = 0;
    for (NDArray a : params.values()) {
      n += a.size();
    }
    return n;
  }

  /** The current weights as HF-named tensors, in checkpoint order. */
  public List<NamedTensor> tensors() {
    List<NamedTensor> out = new ArrayList<>();
    for (Map.Entry<String, NDArray> e : params.entrySet()) {
      out.add(new NamedTensor(e.getKey(), e.getValue().getShape().getShape(), e.getValue().toFloatArray()));
    }
    return out;
  }

  /**
   * Logits {@code [B, T, vocab]} for a batch of token rows. {@code oneHotTokens} is
   * {@code [B * T, vocab]} (the embedding lookup as a matmul, which autograd differentiates
   * like any other).
   */
  public NDArray forward(NDArray oneHotTokens, int batch, int length) {
    NDManager m = oneHotTokens.getManager();
    int d = cfg.hiddenSize();
    int hd = cfg.headDim();
    int heads = cfg.numHeads();
    int kvHeads = cfg.numKvHeads();
    int group = cfg.groupSize();
    long n = (long) batch * length;
    NDArray embed = params.get(EMBED); // [V, d]
    NDArray x = oneHotTokens.matMul(embed); // [N, d]
    Rope rope = Rope.of(m, cfg, length);
    NDArray mask = causalMask(m, group, length);
    for (int l = 0; l < cfg.numLayers(); l++) {
      NDArray h = rmsNorm(x, p(l, INPUT_NORM));
      NDArray q = linear(h, p(l, Q_PROJ + ".weight")).reshape(batch, length, heads, hd);
      NDArray k = linear(h, p(l, K_PROJ + ".weight")).reshape(batch, length, kvHeads, hd);
      NDArray v = linear(h, p(l, V_PROJ + ".weight")).reshape(batch, length, kvHeads, hd);
      if (cfg.qkNorm()) {
        q = rmsNorm(q, p(l, Q_NORM));
        k = rmsNorm(k, p(l, K_NORM));
      }
      q = rope.apply(q.transpose(0, 2, 1, 3)); // [B, H, T, hd]
      k = rope.apply(k.transpose(0, 2, 1, 3)); // [B, kvH, T, hd]
      v = v.transpose(0, 2, 1, 3);
      // Query head kv * group + g reads KV head kv (HF's repeat_kv): a KV head's group of
      // query heads forms one [group * T, hd] matrix.
      NDArray qg = q.reshape(batch, kvHeads, (long) group * length, hd);
      NDArray scores = qg.matMul(k.transpose(0, 1, 3, 2)).mul((float) (1.0 / Math.sqrt(hd))).add(mask);
      NDArray attn = scores.softmax(-1).matMul(v) // [B, kvH, group * T, hd]
          .reshape(batch, heads, length, hd)
          .transpose(0, 2, 1, 3)
          .reshape(n, (long) heads * hd);
      x = x.add(linear(attn, p(l, O_PROJ + ".weight")));
      NDArray h2 = rmsNorm(x, p(l, POST_ATTN_NORM));
      NDArray gate = linear(h2, p(l, GATE_PROJ));
      NDArray up = linear(h2, p(l, UP_PROJ));
      x = x.add(linear(Activation.sigmoid(gate).mul(gate).mul(up), p(l, DOWN_PROJ)));
    }
    NDArray out = rmsNorm(x, params.get(FINAL_NORM));
    NDArray head = cfg.tieWordEmbeddings() ? embed : params.get(LM_HEAD);
    return linear(out, head).reshape(batch, length, cfg.vocabSize());
  }

  /**
   * Mean cross-entropy over the positions {@code targetWeights} selects: it is {@code [B * T,
   * vocab]} with 1 at each counted position's target id and 0 elsewhere (rows of prompt and
   * padding positions are all 0).
   */
  public NDArray loss(NDArray logits, NDArray targetWeights, int counted) {
    NDArray logp = logits.reshape(targetWeights.getShape()).logSoftmax(-1);
    return logp.mul(targetWeights).sum().mul(-1f / Math.max(counted, 1));
  }

  private NDArray p(int layer, String suffix) {
    return params.get(layer(layer, suffix));
  }

  /** {@code x @ W^T} for a HF {@code [out, in]} weight, over the last axis of x. */
  private static NDArray linear(NDArray x, NDArray w) {
    return x.matMul(w.transpose());
  }

  private NDArray rmsNorm(NDArray x, NDArray w) {
    NDArray ms = x.square().mean(new int[] {-1}, true);
    return x.div(ms.add((float) cfg.rmsNormEps()).sqrt()).mul(w);
  }

  /** Additive mask {@code [group * T, T]}: row {@code g * T + t} sees positions up to t. */
  private static NDArray causalMask(NDManager m, int group, int length) {
    float[] mask = new float[group * length * length];
    for (int g = 0; g < group; g++) {
      for (int t = 0; t < length; t++) {
        for (int s = t + 1; s < length; s++) {
          mask[(g * length + t) * length + s] = -1e9f;
        }
      }
    }
    return m.create(mask, new Shape((long) group * length, length));
  }

  /** Rotate-half RoPE tables {@code [T, hd]}, as HF computes them. */
  private record Rope(NDArray cos, NDArray sin, int half) {
    static Rope of(NDManager m, ModelConfig cfg, int length) {
      int hd = cfg.headDim();
      int half = hd / 2;
      float[] cos = new float[length * hd];
      float[] sin = new float[length * hd];
      double[] invFreq = cfg.ropeInverseFrequencies();
      for (int t = 0; t < length; t++) {
        for (int j = 0; j < half; j++) {
          double angle = t * invFreq[j];
          cos[t * hd + j] = cos[t * hd + half + j] = (float) Math.cos(angle);
          sin[t * hd + j] = sin[t * hd + half + j] = (float) Math.sin(angle);
        }
      }
      return new Rope(m.create(cos, new Shape(length, hd)), m.create(sin, new Shape(length, hd)), half);
    }

    /** x * cos + rotate_half(x) * sin, with rotate_half([x1, x2]) = [-x2, x1]. */
    NDArray apply(NDArray x) {
      NDList halves = x.split(2, 3);
      NDArray rotated = halves.get(1).neg().concat(halves.get(0), 3);
      return x.mul(cos).add(rotated.mul(sin));
    }
  }

  private static double gaussian(SplittableRandom rng) {
    double u1 = rng.nextDouble();
    double u2 = rng.nextDouble();
    return Math.sqrt(-2 * Math.log(Math.max(u1, 1e-300))) * Math.cos(2 * Math.PI * u2);
  }

  @Override
  public void close() {
    manager.close();
  }
}
