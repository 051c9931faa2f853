package org.treeroll.engine.model;

import static org.treeroll.engine.model.WeightNames.*;

import org.treeroll.engine.io.WeightSource;

/**
 * The oracle: a Llama/Qwen2/Qwen3 forward in plain Java loops, written from the HF modelling
 * code's math and sharing nothing with the DJL decoder but the weight names. Slow, simple, one
 * sequence at a time, every position recomputed from scratch. Projection weights stay in HF's
 * {@code [out, in]} layout.
 */
public final class ReferenceDecoder {
  private final ModelConfig cfg;
  private final WeightSource w;

  public ReferenceDecoder(ModelConfig cfg, WeightSource weights) {
    this.cfg = cfg;
    this.w = weights;
  }

  /** Logits {@code [T][vocab]} for a causal forward of {@code tokens} from position 0. */
  public float[][] logits(int[] tokens) {
    int t = tokens.length;
    int d = cfg.hiddenSize();
    int v = cfg.vocabSize();
    float[] embed = w.read(EMBED, v, d);
    double[][] x = new double[t][d];
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < d; j++) {
        x[i][j] = embed[tokens[i] * d + j];
      }
    }
    for (int l = 0; l < cfg.numLayers(); l++) {
      x = block(l, x);
    }
    float[] norm = w.read(FINAL_NORM, d);
    float[] head = cfg.tieWordEmbeddings() ? embed : w.read(LM_HEAD, v, d);
    float[][] out = new float[t][];
    for (int i = 0; i < t; i++) {
      double[] h = rmsNorm(x[i], norm);
      out[i] = toFloat(matVec(head, v, d, h, null));
    }
    return out;
  }

  private double[][] block(int l, double[][] x) {
    int t = x.length;
    int d = cfg.hiddenSize();
    int hd = cfg.headDim();
    int nq = cfg.numHeads();
    int nkv = cfg.numKvHeads();
    float[] wq = w.read(layer(l, Q_PROJ + ".weight"), (long) nq * hd, d);
    float[] wk = w.read(layer(l, K_PROJ + ".weight"), (long) nkv * hd, d);
    float[] wv = w.read(layer(l, V_PROJ + ".weight"), (long) nkv * hd, d);
    float[] wo = w.read(layer(l, O_PROJ + ".weight"), d, (long) nq * hd);
    float[] bq = cfg.qkvBias() ? w.read(layer(l, Q_PROJ + ".bias"), (long) nq * hd) : null;
    float[] bk = cfg.qkvBias() ? w.read(layer(l, K_PROJ + ".bias"), (long) nkv * hd) : null;
    float[] bv = cfg.qkvBias() ? w.read(layer(l, V_PROJ + ".bias"), (long) nkv * hd) : null;
    float[] bo = cfg.outputBias() ? w.read(layer(l, O_PROJ + ".bias"), d) : null;
    float[] inNorm = w.read(layer(l, INPUT_NORM), d);

    double[][][] q = new double[t][][];
    double[][][] k = new double[t][][];
    double[][][] v = new double[t][][];
    for (int i = 0; i < t; i++) {
      double[] h = rmsNorm(x[i], inNorm);
      q[i] = heads(matVec(wq, nq * hd, d, h, bq), nq, hd);
      k[i] = heads(matVec(wk, nkv * hd, d, h, bk), nkv, hd);
      v[i] = heads(matVec(wv, nkv * hd, d, h, bv), nkv, hd);
      if (cfg.qkNorm()) {
        float[] qn = w.read(layer(l, Q_NORM), hd);
        float[] kn = w.read(layer(l, K_NORM), hd);
        for (int h2 = 0; h2 < nq; h2++) {
          q[i][h2] = rmsNorm(q[i][h2], qn);
        }
        for (int h2 = 0; h2 < nkv; h2++) {
          k[i][h2] = rmsNorm(k[i][h2], kn);
        }
      }
      for (double[] head : q[i]) {
        rope(head, i);
      }
      for (double[] head : k[i]) {
        rope(head, i);
      }
    }

    double[][] out = new double[t][];
    for (int i = 0; i < t; i++) {
      double[] attn = new double[nq * hd];
      for (int h = 0; h < nq; h++) {
        int kvHead = h / cfg.groupSize();
        double[] scores = new double[i + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= i; j++) {
          scores[j] = dot(q[i][h], k[j][kvHead]) / Math.sqrt(hd);
          max = Math.max(max, scores[j]);
        }
        double sum = 0;
        for (int j = 0; j <= i; j++) {
          scores[j] = Math.exp(scores[j] - max);
          sum += scores[j];
        }
        for (int j = 0; j <= i; j++) {
          for (int c = 0; c < hd; c++) {
            attn[h * hd + c] += scores[j] / sum * v[j][kvHead][c];
          }
        }
      }
      double[] o = matVec(wo, d, nq * hd, attn, bo);
      out[i] = new double[d];
      for (int c = 0; c < d; c++) {
        out[i][c] = x[i][c] + o[c];
      }
      out[i] = add(out[i], mlp(l, out[i]));
    }
    return out;
  }

  /** SwiGLU: down(silu(gate(h)) * up(h)) with h = RMSNorm(x). */
  private double[] mlp(int l, double[] x) {
    int d = cfg.hiddenSize();
    int ff = cfg.intermediateSize();
    double[] h = rmsNorm(x, w.read(layer(l, POST_ATTN_NORM), d));
    double[] gate = matVec(w.read(layer(l, GATE_PROJ), ff, d), ff, d, h, null);
    double[] up = matVec(w.read(layer(l, UP_PROJ), ff, d), ff, d, h, null);
    double[] act = new double[ff];
    for (int i = 0; i < ff; i++) {
      act[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
    }
    return matVec(w.read(layer(l, DOWN_PROJ), d, ff), d, ff, act, null);
  }

  /** Rotate-half RoPE: pairs (i, i + half) turn by pos * theta^(-2i / headDim), Llama-3-scaled. */
  private void rope(double[] x, int pos) {
    int half = x.length / 2;
    for (int i = 0; i < half; i++) {
      double angle = pos * llama3Scaled(Math.pow(cfg.ropeTheta(), -2.0 * i / x.length));
      double c = Math.cos(angle);
      double s = Math.sin(angle);
      double a = x[i];
      double b = x[i + half];
      x[i] = a * c - b * s;
      x[i + half] = b * c + a * s;
    }
  }

  /**
   * Meta's apply_scaling for Llama 3.1, one frequency at a time: short wavelengths kept, long ones
   * slowed by the factor, a linear blend of the two between.
   */
  private double llama3Scaled(double freq) {
    RopeScaling r = cfg.ropeScaling();
    if (r.factor() == 1) {
      return freq;
    }
    double wavelen = 2 * Math.PI / freq;
    double oldContext = r.originalMaxPositions();
    if (wavelen < oldContext / r.highFreqFactor()) {
      return freq;
    }
    if (wavelen > oldContext / r.lowFreqFactor()) {
      return freq / r.factor();
    }
    double smooth = (oldContext / wavelen - r.lowFreqFactor()) / (r.highFreqFactor() - r.lowFreqFactor());
    return (1 - smooth) * freq / r.factor() + smooth * freq;
  }

  private double[] rmsNorm(double[] x, float[] weight) {
    double ms = 0;
    for (double v : x) {
      ms += v * v;
    }
    double scale = 1 / Math.sqrt(ms / x.length + cfg.rmsNormEps());
    double[] out = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = x[i] * scale * weight[i];
    }
    return out;
  }

  /** {@code W x + b} with W row-major {@code [rows, cols]}. */
  private static double[] matVec(float[] w, int rows, int cols, double[] x, float[] bias) {
    double[] out = new double[rows];
    for (int r = 0; r < rows; r++) {
      double s = bias == null ? 0 : bias[r];
      for (int c = 0; c < cols; c++) {
        s += w[r * cols + c] * x[c];
      }
      out[r] = s;
    }
    return out;
  }

  private static double[][] heads(double[] flat, int n, int hd) {
    double[][] out = new double[n][hd];
    for (int h = 0; h < n; h++) {
      System.arraycopy(flat, h * hd, out[h], 0, hd);
    }
    return out;
  }

  private static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  private static double[] add(double[] a, double[] b) {
    double[] out = new double[a.length];
    for (int i = 0; i < a.length; i++) {
      out[i] = a[i] + b[i];
    }
    return out;
  }

  private static float[] toFloat(double[] x) {
    float[] out = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = (float) x[i];
    }
    return out;
  }
}
