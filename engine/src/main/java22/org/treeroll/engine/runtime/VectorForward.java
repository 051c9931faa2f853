package org.treeroll.engine.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.List;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.kvcache.PageTable;

/**
 * {@link JavaForward} on the Vector API: the decoder's math in the same order as
 * {@link LlamaDecoder}'s PyTorch step (RMSNorm with its weight folded into the next projection,
 * fused q/k/v with optional bias, per-head q/k RMSNorm, "rotate half" RoPE, causal grouped-query
 * attention over the sequence's page slots, output projection, SwiGLU, residuals; final norm and
 * LM head on the rows asked for). It reads the same weights and writes the same paged KV, so
 * steps of either path can follow each other on one sequence. BF16 KV pages ({@link KvDtype}),
 * which only this path reads, get each key and value rounded once as it is written; attention
 * widens them in registers and sums in fp32.
 */
final class VectorForward implements JavaForward {
  /** An in-major weight matrix {@code [in, out]}, fp32 or 16-bit (row-major or in tiles), as the kernels read it. */
  private record Matrix(MemorySegment data, int in, int out, DType type, boolean tiled) {
    Matrix(LlamaDecoder.Projection p) {
      this(memory(p.chunks()), p.in(), p.out(), p.type(), p.tileColumns() != 0);
      if (p.tileColumns() != 0 && p.tileColumns() != HalfKernels.tileColumns(in, out)) {
        throw new IllegalStateException("a " + in + " x " + out + " matrix in tiles of " + p.tileColumns()
            + " columns; these kernels read tiles of " + HalfKernels.tileColumns(in, out));
      }
    }

    /** {@code y[r] = x[r] W} for {@code rows} rows of {@code x}; {@code fixedOrder} see {@link VectorKernels#matmul}. */
    void apply(float[] x, int rows, float[] y, boolean fixedOrder) {
      if (type == DType.F32) {
        VectorKernels.matmul(data, in, out, x, rows, y, fixedOrder);
      } else {
        HalfKernels.matmul(data, type == DType.F16, tiled, in, out, x, rows, y, fixedOrder);
      }
    }
  }

  /**
   * @param inputNorm the attention RMSNorm's weight where it is not folded into {@code qkv}
   *     (16-bit weights), else null; {@code postNorm} likewise for {@code gateUp}
   */
  private record Layer(Matrix qkv, float[] bqkv, float[] qkNorm, Matrix o, float[] bo,
      Matrix gateUp, Matrix down, float[] inputNorm, float[] postNorm) {}

  private final ModelConfig cfg;
  private final SharedArray embedT; // [hidden, vocab]
  private final Layer[] layers;
  private final float[] finalNorm;
  private final Matrix lmHead;
  private final double[] invFreq;

  VectorForward(ModelConfig cfg, SharedArray embedT, LlamaDecoder.Layer[] layers,
      SharedArray finalNorm, LlamaDecoder.Projection lmHead, double[] invFreq, LlamaDecoder.LayerNorms[] norms) {
    this.cfg = cfg;
    this.embedT = embedT;
    this.layers = new Layer[layers.length];
    for (int l = 0; l < layers.length; l++) {
      LlamaDecoder.Layer w = layers[l];
      this.layers[l] = new Layer(new Matrix(w.qkv()), floats(w.bqkv()), floats(w.qkNorm()),
          new Matrix(w.o()), floats(w.bo()), new Matrix(w.gateUp()), new Matrix(w.down()),
          norms == null ? null : norms[l].input(), norms == null ? null : norms[l].postAttention());
    }
    this.finalNorm = floats(finalNorm);
    this.lmHead = new Matrix(lmHead);
    this.invFreq = invFreq;
    VectorKernels.startWarmUp(lmHead.type());
  }

  /** {@link JavaForward#tileColumns}. */
  static int tileColumns(int in, int out) {
    return HalfKernels.tileColumns(in, out);
  }

  @Override
  public NextTokenDistributions distributions(float[] logits, int vocab, float[] temperatures, boolean keepLogits) {
    float[] probs = new float[logits.length];
    float[] entropies = new float[temperatures.length];
    VectorKernels.distributions(logits, vocab, temperatures, probs, entropies);
    return new NextTokenDistributions(probs, entropies, vocab, keepLogits ? logits : null);
  }

  @Override
  public float[][] scores(float[] logits, int vocab, int[] targets, float temperature) {
    float[] logProbs = new float[targets.length];
    float[] entropies = new float[targets.length];
    VectorKernels.scores(logits, vocab, targets, 1f / temperature, logProbs, entropies);
    return new float[][] {logProbs, entropies};
  }

  @Override
  public void awaitWarmUp() {
    VectorKernels.awaitWarmUp();
  }

  @Override
  public String description() {
    return "Java Vector API kernels (JDK " + Runtime.version().feature() + ", CPU, " + VectorKernels.shape() + ")";
  }

  private static float[] floats(SharedArray a) {
    return a == null ? null : memory(a.chunks()).toArray(ValueLayout.JAVA_FLOAT);
  }

  /**
   * An array's memory (see {@link SharedArray#chunks}) as one segment, as the kernels read it. Up
   * to 2 GB it is the one buffer's. Past that it is PyTorch's, seen through consecutive buffers:
   * the segment spans them from the first one's address. Such a segment does not keep the memory
   * alive; the array does, until its model or KV store closes, after which neither runs a step.
   * Making it is a restricted method: the JVM needs {@code --enable-native-access=ALL-UNNAMED}.
   *
   * @throws IllegalStateException if the buffers are not consecutive in memory
   */
  @SuppressWarnings("restricted") // reinterpret: the size is the buffers', the lifetime the array's (above)
  static MemorySegment memory(List<ByteBuffer> chunks) {
    MemorySegment first = MemorySegment.ofBuffer(chunks.get(0));
    if (chunks.size() == 1) {
      return first;
    }
    long bytes = 0;
    for (int c = 0; c < chunks.size(); c++) {
      long at = MemorySegment.ofBuffer(chunks.get(c)).address();
      if (at != first.address() + bytes) {
        throw new IllegalStateException("an array's buffers are not consecutive in memory: buffer " + c
            + " starts at 0x" + Long.toHexString(at) + ", expected 0x" + Long.toHexString(first.address() + bytes));
      }
      bytes += chunks.get(c).capacity();
    }
    return MemorySegment.ofAddress(first.address()).reinterpret(bytes);
  }

  @Override
  public float[] forward(List<SequenceChunk> chunks, KvStore kv, boolean fixedOrder) {
    VectorKernels.awaitWarmUp();
    VectorKernels.wakeHelpers();
    int d = cfg.hiddenSize();
    int vocab = cfg.vocabSize();
    int n = 0;
    int rows = 0;
    for (SequenceChunk c : chunks) {
      n += c.tokens().length;
      rows += c.logitRows();
    }
    // Each packed token: its sequence's table and its position.
    PageTable[] tableOf = new PageTable[n];
    int[] pos = new int[n];
    int[] logitRows = new int[rows];
    float[] x = new float[n * d];
    int t = 0;
    int r = 0;
    for (SequenceChunk c : chunks) {
      int start = c.table().length();
      for (int i = 0; i < c.tokens().length; i++, t++) {
        tableOf[t] = c.table();
        pos[t] = start + i;
        int token = c.tokens()[i];
        for (int k = 0; k < d; k++) {
          x[t * d + k] = embedT.get((long) k * vocab + token);
        }
        if (c.allLogits() || i == c.tokens().length - 1) {
          logitRows[r++] = t;
        }
      }
    }
    for (int l = 0; l < layers.length; l++) {
      runLayer(layers[l], new Pages(memory(kv.layerChunks(l)), kv.rowWidth(), kv.dtype() == KvDtype.BF16), x, n,
          tableOf, pos, fixedOrder);
    }
    float[] last = new float[rows * d];
    for (int i = 0; i < rows; i++) {
      System.arraycopy(x, logitRows[i] * d, last, i * d, d);
    }
    normalizeRows(last, rows, d, finalNorm);
    float[] logits = new float[rows * vocab];
    lmHead.apply(last, rows, logits, fixedOrder);
    for (SequenceChunk c : chunks) {
      c.table().advance(c.tokens().length);
    }
    return logits;
  }

  /**
   * One layer's KV memory: a row of {@code rowWidth} elements per slot, fp32 or BF16.
   */
  private record Pages(MemorySegment memory, int rowWidth, boolean bf16) {
    /** Byte offset of element {@code k} of slot {@code slot}'s row. */
    long at(int slot, int k) {
      return (bf16 ? 2L : 4L) * ((long) slot * rowWidth + k);
    }

    /** Stores {@code n} values from {@code src[from..]} at element {@code k} of slot {@code slot}'s row. */
    void write(int slot, int k, float[] src, int from, int n) {
      long at = at(slot, k);
      if (!bf16) {
        MemorySegment.copy(src, from, memory, ValueLayout.JAVA_FLOAT, at, n);
        return;
      }
      for (int i = 0; i < n; i++) {
        memory.set(ValueLayout.JAVA_SHORT_UNALIGNED, at + 2L * i, DType.BF16.narrow(src[from + i]));
      }
    }

    /**
     * {@code scores[g * stride + l] = scale * (row l's elements [k, k + hd) . q[q0 + g * hd ..])}
     * for the {@code group} query heads over {@code len} rows starting at bytes {@code rows[l]}.
     * Loops of their own per KV type: inside attention's larger loop C2 stopped intrinsifying the
     * vector operations, which then ran through the Vector API's Java fallback (PrintInlining).
     */
    void scores(long[] rows, int len, int k, float[] q, int q0, int hd, int group, float scale, float[] scores,
        int stride, float[] lanes) {
      long offset = at(0, k);
      if (bf16) {
        HalfKernels.scoresBf16(memory, rows, len, offset, q, q0, hd, group, scale, scores, stride, lanes);
      } else {
        VectorKernels.scores(memory, rows, len, offset, q, q0, hd, group, scale, scores, stride, lanes);
      }
    }

    /** {@code y[yo + g * hd + i] += p[g * stride + l] * (row l's element k + i)}, rows as in {@link #scores}. */
    void mix(long[] rows, int len, int k, float[] p, int stride, int group, float[] y, int yo, int hd) {
      long offset = at(0, k);
      if (bf16) {
        HalfKernels.mixBf16(memory, rows, len, offset, p, stride, group, y, yo, hd);
      } else {
        VectorKernels.mix(memory, rows, len, offset, p, stride, group, y, yo, hd);
      }
    }
  }

  private void runLayer(Layer w, Pages cache, float[] x, int n, PageTable[] tableOf, int[] pos, boolean fixedOrder) {
    int d = cfg.hiddenSize();
    int hd = cfg.headDim();
    int heads = cfg.numHeads();
    int kvHeads = cfg.numKvHeads();
    int qkRows = heads + kvHeads;
    int kvw = kvHeads * hd;
    int qkvWidth = w.qkv().out();

    float[] h = x.clone();
    normalizeRows(h, n, d, w.inputNorm());
    float[] qkv = new float[n * qkvWidth];
    w.qkv().apply(h, n, qkv, fixedOrder);
    for (int t = 0; t < n; t++) {
      int base = t * qkvWidth;
      if (w.bqkv() != null) {
        for (int k = 0; k < qkvWidth; k++) {
          qkv[base + k] += w.bqkv()[k];
        }
      }
      if (w.qkNorm() != null) {
        for (int head = 0; head < qkRows; head++) {
          int at = base + head * hd;
          float inv = invRms(qkv, at, hd);
          for (int k = 0; k < hd; k++) {
            qkv[at + k] *= inv * w.qkNorm()[head * hd + k];
          }
        }
      }
      rope(qkv, base, qkRows, pos[t]);
      // Keys then values into the token's slot row.
      int slot = tableOf[t].slot(pos[t]);
      cache.write(slot, 0, qkv, base + heads * hd, kvw);
      cache.write(slot, kvw, qkv, base + qkRows * hd, kvw);
    }

    float[] attn = new float[n * heads * hd];
    attend(qkv, qkvWidth, cache, n, tableOf, pos, attn, fixedOrder);
    float[] o = new float[n * d];
    w.o().apply(attn, n, o, fixedOrder);
    for (int t = 0; t < n; t++) {
      for (int k = 0; k < d; k++) {
        x[t * d + k] += o[t * d + k] + (w.bo() == null ? 0f : w.bo()[k]);
      }
    }

    h = x.clone();
    normalizeRows(h, n, d, w.postNorm());
    int ff = cfg.intermediateSize();
    float[] gateUp = new float[n * 2 * ff];
    w.gateUp().apply(h, n, gateUp, fixedOrder);
    float[] act = new float[n * ff];
    VectorKernels.siluMul(gateUp, ff, n, act, fixedOrder);
    float[] down = new float[n * d];
    w.down().apply(act, n, down, fixedOrder);
    for (int k = 0; k < n * d; k++) {
      x[k] += down[k];
    }
  }

  /**
   * Causal attention of every packed token's query heads over its sequence's keys at positions
   * {@code 0..pos}, whose KV (this step's included) is already in the cache. The query heads that
   * share a KV head run together, so each key and value row is found and loaded once per group.
   */
  private void attend(float[] qkv, int qkvWidth, Pages cache, int n, PageTable[] tableOf, int[] pos, float[] attn,
      boolean fixedOrder) {
    int hd = cfg.headDim();
    int heads = cfg.numHeads();
    int kvHeads = cfg.numKvHeads();
    int group = cfg.groupSize();
    int kvw = kvHeads * hd;
    float scale = (float) (1 / Math.sqrt(hd));
    int maxPos = 0;
    for (int p : pos) {
      maxPos = Math.max(maxPos, p);
    }
    int longest = maxPos + 1;
    int units = n * kvHeads;
    VectorKernels.Range body = (from, to) -> {
      float[] scores = new float[group * longest];
      long[] rows = new long[longest];
      float[] lanes = fixedOrder ? new float[VectorKernels.lanes()] : null;
      for (int u = from; u < to; u++) {
        int t = u / kvHeads;
        int kvHead = u % kvHeads;
        int len = pos[t] + 1;
        int q0 = t * qkvWidth + kvHead * group * hd;
        for (int l = 0; l < len; l++) {
          rows[l] = cache.at(tableOf[t].slot(l), 0);
        }
        cache.scores(rows, len, kvHead * hd, qkv, q0, hd, group, scale, scores, longest, lanes);
        for (int g = 0; g < group; g++) {
          if (fixedOrder) {
            softmaxInFixedOrder(scores, g * longest, len);
          } else {
            VectorKernels.softmax(scores, g * longest, len);
          }
        }
        cache.mix(rows, len, kvw + kvHead * hd, scores, longest, group, attn, (t * heads + kvHead * group) * hd, hd);
      }
    };
    // Work per unit grows with the context: split it over cores once it is worth it.
    if ((long) units * group * longest < 1 << 8) {
      body.run(0, units);
    } else {
      VectorKernels.parallel(units, 1, body);
    }
  }

  /** {@code s[at, at + len)} replaced by its softmax: scalar {@link Math#exp}, summed in double in index order. */
  private static void softmaxInFixedOrder(float[] s, int at, int len) {
    float max = Float.NEGATIVE_INFINITY;
    for (int l = 0; l < len; l++) {
      max = Math.max(max, s[at + l]);
    }
    double sum = 0;
    for (int l = 0; l < len; l++) {
      float e = (float) Math.exp(s[at + l] - max);
      s[at + l] = e;
      sum += e;
    }
    float inv = (float) (1 / sum);
    for (int l = 0; l < len; l++) {
      s[at + l] *= inv;
    }
  }

  /** Rotary embedding ("rotate half") of the first {@code qkRows} heads of a token's qkv row. */
  private void rope(float[] qkv, int base, int qkRows, int position) {
    int hd = cfg.headDim();
    int half = hd / 2;
    for (int j = 0; j < half; j++) {
      double angle = position * invFreq[j];
      float cs = (float) Math.cos(angle);
      float sn = (float) Math.sin(angle);
      for (int head = 0; head < qkRows; head++) {
        int at = base + head * hd + j;
        float a = qkv[at];
        float b = qkv[at + half];
        qkv[at] = a * cs - b * sn;
        qkv[at + half] = b * cs + a * sn;
      }
    }
  }

  /**
   * RMSNorm in place on each of {@code rows} rows of width {@code d}, then times {@code weight}
   * where it is not null (not folded into the next matrix).
   */
  private void normalizeRows(float[] x, int rows, int d, float[] weight) {
    for (int t = 0; t < rows; t++) {
      float inv = invRms(x, t * d, d);
      for (int k = 0; k < d; k++) {
        x[t * d + k] *= inv;
      }
      if (weight != null) {
        for (int k = 0; k < d; k++) {
          x[t * d + k] *= weight[k];
        }
      }
    }
  }

  private float invRms(float[] x, int at, int len) {
    double ss = 0;
    for (int k = 0; k < len; k++) {
      ss += (double) x[at + k] * x[at + k];
    }
    return (float) (1 / Math.sqrt(ss / len + cfg.rmsNormEps()));
  }
}
