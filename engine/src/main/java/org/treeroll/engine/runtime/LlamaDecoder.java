package org.treeroll.engine.runtime;

import static org.treeroll.engine.model.WeightNames.*;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ShortBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.WeightNames;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.kvcache.PageTable;
import org.treeroll.kvcache.PagePool;
import org.treeroll.tree.TreeRollException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Llama-family decoder (Llama, Qwen2, Qwen3) on DJL's PyTorch engine, computing in fp32. On
 * CPU, where the JDK has the Vector API, every step runs in {@link JavaForward} instead, over the
 * same weight and KV memory; PyTorch runs them on GPU and on JDK 21. The path is chosen once, at
 * load, and logged with its reason; {@link #forwardSteps()} counts the steps each path ran. A BF16
 * or F16 checkpoint's matrices stay 16-bit on the Java path ({@link WeightPrecision}); PyTorch
 * only ever sees fp32 weights.
 *
 * <p>Layout choices, measured on CPU (see {@link Projection}): every projection matrix is stored
 * {@code [in, out]} for the Java path, and with its longer side contiguous for PyTorch; q, k and
 * v are fused into one matrix and gate and up into another, so each layer runs four matmuls; the
 * embedding is kept once, transposed, serving both the lookup (a column gather) and the LM head.
 *
 * <p>A forward step packs the new tokens of all sequences into one {@code [tokens, hidden]}
 * matrix for every projection. Only attention sees sequences: each gathers its KV rows from the
 * page slots in its table, padded to the longest sequence and masked.
 *
 * <p>Weights change in place ({@link #prepareUpdate}, {@link #applyUpdate}): both paths read the
 * same memory, so only the small arrays {@link JavaForward} copies are rebuilt.
 */
public final class LlamaDecoder implements Model {
  private static final Logger LOG = LoggerFactory.getLogger(LlamaDecoder.class);
  private final ModelConfig cfg;
  private final Device device;
  private final NDManager manager; // the PyTorch arrays; null where every step runs in Java (16-bit weights on the CPU)
  private final SharedArray embedT; // [hidden, vocab]
  private final Projection lmHead; // over embedT when tied
  private final SharedArray finalNorm;
  private final Layer[] layers;
  // Each layer's norm weights as sent, for refolding a matrix update; replaced, never mutated.
  private final AtomicReferenceArray<LayerNorms> norms;
  private final double[] invFreq;
  private final DType weightType; // F32, or the 16-bit type the matrices are kept in (norms then unfolded)
  private final int qkRows; // query plus key heads: they share q/k-norm and RoPE
  private volatile JavaForward javaForward; // null where it cannot run; rebuilt by updates
  private int javaMaxTokens = Integer.MAX_VALUE; // tests lower it to force PyTorch
  private final ForwardSteps.Counter steps = new ForwardSteps.Counter();

  /**
   * One block's weights. The input and post-attention RMSNorm weights are folded into the rows of
   * the projections that follow them ({@code (x * w) @ W == x @ (diag(w) W)}), which saves an op.
   */
  record Layer(
      Projection qkv,
      SharedArray bqkv,
      SharedArray qkNorm,
      Projection o,
      SharedArray bo,
      Projection gateUp,
      Projection down) {}

  /** A layer's RMSNorm weights before folding: the input norm and the post-attention norm. */
  record LayerNorms(float[] input, float[] postAttention) {}

  /**
   * A weight matrix, stored {@code [in, out]} (in-major) or HF's {@code [out, in]}, and the matmul
   * orientation MKL runs fastest on it. For PyTorch each matrix keeps its longer side contiguous.
   * Measured here (2 cores, AVX-512): for one row, {@code x @ W[in, out]} streams a wide matrix at
   * ~20 GB/s against ~13 GB/s for {@code W[out, in] @ x}, and the reverse holds for a tall one;
   * for batches of 16 rows and more, the tall-skinny product {@code (W^T x^T)^T} makes the whole
   * 64-row step ~4% faster than {@code x W} on the wide matrices (A/B in one process), while below
   * 12 rows it is 3-4x slower. The transposed result is a strided view; elementwise ops keep its
   * layout, so the next projection reads it contiguously. {@link JavaForward}'s kernels want every
   * matrix in-major: its register tiles reach ~220 GFLOP/s at 64 rows on the down projection
   * stored so, against ~150 with dot products over {@code [out, in]}.
   *
   * @param chunks the weight's memory for {@link JavaForward} (see {@link SharedArray#chunks}), null
   *     if only PyTorch sees it
   * @param type how its elements are stored: fp32, or 16 bits that only {@link JavaForward} reads
   *     ({@code weight} and {@code weightT} are then null)
   */
  record Projection(NDArray weight, NDArray weightT, List<ByteBuffer> chunks, int in, int out, boolean inMajor,
      DType type, int tileColumns) {
    /** Rows at which the tall-skinny product overtakes {@code x @ W}. */
    static final long TALL_SKINNY_ROWS = 16;

    Projection(SharedArray w, int in, int out, boolean inMajor) {
      this(w.array(), w.array() == null ? null : w.array().transpose(), w.chunks(), in, out, inMajor, w.type(),
          w.tileColumns());
    }

    /** The stored matrix ({@code weightT} is a view of it). */
    SharedArray shared() {
      return new SharedArray(weight, chunks, type, inMajor ? new Shape(in, out) : new Shape(out, in), tileColumns);
    }

    NDArray apply(NDArray x) {
      if (inMajor && x.getShape().get(0) < TALL_SKINNY_ROWS) {
        return x.matMul(weight); // weight is [in, out]
      }
      // The weight comes first, so the result would join the weights' manager: move it to x's.
      NDArray t = (inMajor ? weightT : weight).matMul(x.transpose());
      t.attach(x.getManager());
      return t.transpose();
    }

    /** From HF's row-major {@code [out, in]}: in-major if {@code inMajor} or the matrix is wide. */
    static Projection of(NDManager m, float[] w, long out, long in, boolean inMajor) {
      return inMajor || out >= in
          ? new Projection(SharedArray.transposed(m, w, (int) out, (int) in), (int) in, (int) out, true)
          : new Projection(SharedArray.of(m, w, new Shape(out, in)), (int) in, (int) out, false);
    }
  }

  private LlamaDecoder(ModelConfig cfg, Device device, NDManager manager, SharedArray embedT,
      Projection lmHead, SharedArray finalNorm, Layer[] layers, LayerNorms[] norms, boolean forPyTorch,
      DType weightType) {
    this.cfg = cfg;
    this.weightType = weightType;
    this.device = device;
    this.manager = manager;
    this.embedT = embedT;
    this.lmHead = lmHead;
    this.finalNorm = finalNorm;
    this.layers = layers;
    this.norms = new AtomicReferenceArray<>(norms);
    this.qkRows = cfg.numHeads() + cfg.numKvHeads();
    this.invFreq = cfg.ropeInverseFrequencies();
    String reason = pyTorchReason(forPyTorch);
    JavaForward java = null;
    if (reason == null) {
      try {
        java = JavaForward.create(cfg, embedT, layers, finalNorm, lmHead, invFreq, unfoldedNorms());
      } catch (IllegalStateException e) {
        if (weightType != DType.F32) {
          throw new TreeRollException("the Java kernels, which alone read " + weightType
              + " weights, could not be created: " + e.getMessage() + "; load the model in fp32", e);
        }
        LOG.warn("forward path: the Java kernels could not be created, so PyTorch runs every step", e);
        reason = e.getMessage();
      }
    }
    this.javaForward = java;
    LOG.info("forward path: {}", java != null ? java.description() : "PyTorch (reason: " + reason + ")");
  }

  /** Why PyTorch must run the steps rather than {@link JavaForward}, or null if it need not. */
  private String pyTorchReason(boolean forPyTorch) {
    if (!Device.Type.CPU.equals(device.getDeviceType())) {
      return "device is " + device;
    }
    String jvm = JavaForward.unavailableReason();
    if (jvm != null) {
      return jvm;
    }
    if (forPyTorch) {
      return "the weights were laid out for PyTorch's matmuls at load";
    }
    // On the CPU Java sees every array, whatever its size (see SharedArray), and without
    // forPyTorch every matrix is in-major.
    return null;
  }

  /** Loads every weight of {@code cfg} from {@code weights} onto {@code device}, 16-bit matrices as stored where they can be. */
  public static LlamaDecoder load(ModelConfig cfg, WeightSource weights, Device device) {
    return load(cfg, weights, device, WeightPrecision.AS_STORED);
  }

  public static LlamaDecoder load(ModelConfig cfg, WeightSource weights, Device device, WeightPrecision precision) {
    return load(cfg, weights, device, device.isGpu() || !JavaForward.available(), precision);
  }

  /**
   * @param forPyTorch lay the weights out for PyTorch's matmuls rather than the Java kernels (the
   *     Java path then stays off; tests use it to run the PyTorch layout on CPU)
   */
  static LlamaDecoder load(ModelConfig cfg, WeightSource weights, Device device, boolean forPyTorch) {
    return load(cfg, weights, device, forPyTorch, WeightPrecision.AS_STORED);
  }

  static LlamaDecoder load(ModelConfig cfg, WeightSource weights, Device device, boolean forPyTorch,
      WeightPrecision precision) {
    boolean inMajor = !forPyTorch;
    DType half = keptType(cfg, weights, forPyTorch, precision);
    if (device.getDeviceType().equals(Device.Type.CPU)) {
      MemoryFit.check(cfg, half);
    }
    // 16-bit matrices run on the Java kernels alone; then nothing starts PyTorch (~80 MB resident).
    NDManager m = half == DType.F32 ? NDManager.newBaseManager(device) : null;
    try {
      long d = cfg.hiddenSize();
      long v = cfg.vocabSize();
      long q = (long) cfg.numHeads() * cfg.headDim();
      long kv = (long) cfg.numKvHeads() * cfg.headDim();
      long ff = cfg.intermediateSize();
      SharedArray embedT = half != DType.F32
          ? SharedArray.transposedHalf(half, bits(weights, half, EMBED, v, d), (int) v, (int) d, 0)
          : SharedArray.transposed(m, weights.read(EMBED, v, d), (int) v, (int) d);
      Projection lmHead = cfg.tieWordEmbeddings() ? new Projection(embedT, (int) d, (int) v, true)
          : matrix(m, weights, half, LM_HEAD, v, d, inMajor);
      Layer[] layers = new Layer[cfg.numLayers()];
      LayerNorms[] norms = new LayerNorms[layers.length];
      for (int l = 0; l < layers.length; l++) {
        norms[l] = new LayerNorms(weights.read(layer(l, INPUT_NORM), d), weights.read(layer(l, POST_ATTN_NORM), d));
        Projection wqkv = fused(m, weights, half, d, norms[l].input(), new String[] {
            layer(l, Q_PROJ + ".weight"), layer(l, K_PROJ + ".weight"), layer(l, V_PROJ + ".weight")},
            q, kv, kv);
        SharedArray bqkv = cfg.qkvBias() ? SharedArray.of(m, concat(
            weights.read(layer(l, Q_PROJ + ".bias"), q),
            weights.read(layer(l, K_PROJ + ".bias"), kv),
            weights.read(layer(l, V_PROJ + ".bias"), kv))) : null;
        SharedArray qkNorm = null;
        if (cfg.qkNorm()) {
          // One norm over q and k heads together: the q weight repeated per query head, then k's.
          float[] qn = weights.read(layer(l, Q_NORM), cfg.headDim());
          float[] kn = weights.read(layer(l, K_NORM), cfg.headDim());
          float[] both = new float[(cfg.numHeads() + cfg.numKvHeads()) * cfg.headDim()];
          for (int h = 0; h < cfg.numHeads() + cfg.numKvHeads(); h++) {
            System.arraycopy(h < cfg.numHeads() ? qn : kn, 0, both, h * cfg.headDim(), cfg.headDim());
          }
          qkNorm = SharedArray.of(m, both, new Shape(cfg.numHeads() + cfg.numKvHeads(), cfg.headDim()));
        }
        layers[l] = new Layer(
            wqkv,
            bqkv,
            qkNorm,
            matrix(m, weights, half, layer(l, O_PROJ + ".weight"), d, q, inMajor),
            cfg.outputBias() ? SharedArray.of(m, weights.read(layer(l, O_PROJ + ".bias"), d)) : null,
            fused(m, weights, half, d, norms[l].postAttention(),
                new String[] {layer(l, GATE_PROJ), layer(l, UP_PROJ)}, ff, ff),
            matrix(m, weights, half, layer(l, DOWN_PROJ), d, ff, inMajor));
      }
      SharedArray finalNorm = SharedArray.of(m, weights.read(FINAL_NORM, d));
      return new LlamaDecoder(cfg, device, m, embedT, lmHead, finalNorm, layers, norms, forPyTorch, half);
    } catch (RuntimeException e) {
      if (m != null) {
        m.close();
      }
      throw e;
    }
  }

  /**
   * The type the matrices are kept in: the checkpoint's 16-bit type when every matrix has it and
   * the Java kernels run the steps, else fp32 (logged with the reason when the checkpoint is 16-bit).
   */
  private static DType keptType(ModelConfig cfg, WeightSource weights, boolean forPyTorch, WeightPrecision precision) {
    DType stored = null;
    boolean mixed = false;
    for (String name : WeightNames.shapes(cfg).keySet()) {
      if (!name.endsWith(".weight") || name.endsWith("norm.weight")) {
        continue; // vectors are small and read as fp32 in every case
      }
      DType t = weights.dtype(name);
      mixed |= stored != null && stored != t;
      stored = stored == null ? t : stored;
    }
    if (stored == null) {
      return DType.F32;
    }
    String pyTorch = !forPyTorch ? null : "PyTorch runs the steps (" + (JavaForward.available()
        ? "the weights are laid out for it" : JavaForward.unavailableReason()) + "), and its CPU kernels are fp32 here";
    if (precision == WeightPrecision.BF16) {
      if (pyTorch != null) {
        LOG.info("weights: widened to fp32 at load, not kept in BF16 as asked (reason: {})", pyTorch);
        return DType.F32;
      }
      if (mixed || stored != DType.BF16) {
        LOG.info("weights: {} matrices rounded to BF16 at load, as asked (lossy: 8 bits of mantissa)",
            mixed ? "mixed" : stored);
      } else {
        LOG.info("weights: kept in BF16 as stored; the Java kernels widen them to fp32 in registers");
      }
      return DType.BF16;
    }
    if (mixed) {
      LOG.info("weights: matrices of mixed types; all are widened to fp32 at load");
      return DType.F32;
    }
    if (stored == DType.F32) {
      return DType.F32;
    }
    String off = precision == WeightPrecision.FP32 ? "fp32 was asked for" : pyTorch;
    if (off != null) {
      LOG.info("weights: {} checkpoint widened to fp32 at load, twice its size in memory (reason: {})", stored, off);
      return DType.F32;
    }
    LOG.info("weights: kept in {} as stored; the Java kernels widen them to fp32 in registers", stored);
    return stored;
  }

  /**
   * Tensor {@code name} as {@code half} bits: as stored where it is stored so, else rounded to
   * nearest from its fp32 values ({@link WeightPrecision#BF16}).
   */
  private static ShortBuffer bits(WeightSource weights, DType half, String name, long rows, long cols) {
    if (weights.dtype(name) == half) {
      return weights.readBits(name, rows, cols);
    }
    float[] values = weights.read(name, rows, cols);
    short[] out = new short[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = half.narrow(values[i]);
    }
    return ShortBuffer.wrap(out);
  }

  /** A HF matrix {@code [out, in]}: 16-bit in-major if {@code half} is, else fp32 per {@link Projection#of}. */
  private static Projection matrix(NDManager m, WeightSource weights, DType half, String name, long out, long in,
      boolean inMajor) {
    if (half != DType.F32) {
      return new Projection(SharedArray.transposedHalf(half, bits(weights, half, name, out, in), (int) out, (int) in,
          JavaForward.tileColumns((int) in, (int) out)), (int) in, (int) out, true);
    }
    return Projection.of(m, weights.read(name, out, in), out, in, inMajor);
  }

  /** The layers' norm weights where they are not folded into the matrices (16-bit weights), else null. */
  private LayerNorms[] unfoldedNorms() {
    if (weightType == DType.F32) {
      return null;
    }
    LayerNorms[] n = new LayerNorms[layers.length];
    for (int l = 0; l < n.length; l++) {
      n[l] = norms.get(l);
    }
    return n;
  }

  /**
   * Waits until the Java kernels are compiled (their warm-up starts at load and the first step
   * waits for it anyway); returns at once on the PyTorch path.
   */
  public void awaitWarmUp() {
    if (javaForward != null) {
      javaForward.awaitWarmUp();
    }
  }

  @Override
  public DType weightType() {
    return weightType;
  }

  @Override
  public ModelConfig config() {
    return cfg;
  }

  @Override
  public Device device() {
    return device;
  }

  @Override
  public KvStore newKvStore(PagePool pool, KvDtype dtype) {
    if (dtype != KvDtype.F32 && javaForward == null) {
      // PyTorch reads fp32 pages only here; widening them behind the caller's back would halve the budget's tokens.
      throw new TreeRollException("KV dtype " + dtype + ": 16-bit KV pages run only on the Java Vector API kernels,"
          + " and this model's steps run on PyTorch (" + pyTorchReason(true) + "); use f32");
    }
    // On the CPU Java sees every layer's KV, whatever its size (see SharedArray).
    return new KvStore(manager, pool, cfg.numLayers(), 2 * cfg.numKvHeads() * cfg.headDim(), dtype);
  }

  @Override
  public String fixedOrderUnavailable() {
    if (javaForward != null) {
      return null;
    }
    String reason = pyTorchReason(true);
    return "batch-invariant decoding runs only on the Java Vector API kernels, and this model's steps run on PyTorch: "
        + reason;
  }

  @Override
  public NDArray forward(List<SequenceChunk> chunks, KvStore kv, NDManager out, boolean fixedOrder) {
    JavaForward java = javaStep(chunks, kv, fixedOrder);
    if (java != null) {
      return out.create(javaLogits(java, chunks, kv, fixedOrder), new Shape(logitRows(chunks), cfg.vocabSize()));
    }
    try (NDManager step = out.newSubManager()) {
      StepLayout s = StepLayout.of(chunks, cfg, invFreq, qkRows, step);
      NDArray x = embedT.array().get(step, new NDIndex(":, {}", s.tokens)).transpose(); // [N, d]
      for (int l = 0; l < layers.length; l++) {
        x = runLayer(layers[l], kv.layer(l), x, s);
      }
      NDArray last = s.logitRows == null ? x : x.get(s.logitRows);
      NDArray logits = lmHead.apply(normalize(last).muli(finalNorm.array()));
      logits.attach(out);
      for (SequenceChunk c : chunks) {
        c.table().advance(c.tokens().length);
      }
      steps.pytorchStep();
      return logits;
    }
  }

  @Override
  public NextTokenDistributions distributions(List<SequenceChunk> chunks, KvStore kv, float[] temperatures,
      boolean keepLogits, boolean fixedOrder) {
    JavaForward java = javaStep(chunks, kv, fixedOrder);
    if (java == null) {
      return Model.super.distributions(chunks, kv, temperatures, keepLogits, fixedOrder);
    }
    float[] logits = javaLogits(java, chunks, kv, fixedOrder);
    return fixedOrder ? NextTokenDistributions.inFixedOrder(logits, cfg.vocabSize(), temperatures, keepLogits)
        : java.distributions(logits, cfg.vocabSize(), temperatures, keepLogits);
  }

  @Override
  public float[][] scores(SequenceChunk chunk, KvStore kv, int[] targets, double temperature) {
    List<SequenceChunk> chunks = List.of(chunk);
    JavaForward java = javaStep(chunks, kv, false);
    if (java == null) {
      return Model.super.scores(chunk, kv, targets, temperature);
    }
    return java.scores(javaLogits(java, chunks, kv, false), cfg.vocabSize(), targets, (float) temperature);
  }

  /**
   * Checks that this step can run, and returns the Java kernels where they run it, else null
   * (PyTorch runs it).
   */
  private JavaForward javaStep(List<SequenceChunk> chunks, KvStore kv, boolean fixedOrder) {
    int tokens = 0;
    for (SequenceChunk c : chunks) {
      tokens += c.tokens().length;
      int needed = c.table().length() + c.tokens().length;
      if (c.table().capacity() < needed) {
        throw new IllegalStateException("page table not reserved for " + needed + " tokens");
      }
    }
    JavaForward java = javaForward;
    if (weightType != DType.F32 && (java == null || !kv.shared())) {
      throw new IllegalStateException(weightType + " weights run only on the Java kernels");
    }
    boolean halfKv = kv.dtype() != KvDtype.F32;
    if (halfKv && java == null) {
      throw new IllegalStateException(kv.dtype() + " KV pages run only on the Java kernels");
    }
    if (fixedOrder && (java == null || !kv.shared())) {
      throw new IllegalStateException(java == null ? fixedOrderUnavailable()
          : "batch-invariant decoding needs a KV store the Java kernels can read");
    }
    boolean onJava = java != null && kv.shared()
        && (tokens <= javaMaxTokens || weightType != DType.F32 || halfKv || fixedOrder);
    return onJava ? java : null;
  }

  /** The step on the Java kernels: logits {@code [rows, vocab]} row-major. */
  private float[] javaLogits(JavaForward java, List<SequenceChunk> chunks, KvStore kv, boolean fixedOrder) {
    float[] logits = java.forward(chunks, kv, fixedOrder);
    steps.javaVectorStep();
    return logits;
  }

  private static int logitRows(List<SequenceChunk> chunks) {
    int rows = 0;
    for (SequenceChunk c : chunks) {
      rows += c.logitRows();
    }
    return rows;
  }

  private NDArray runLayer(Layer w, NDArray cache, NDArray x, StepLayout s) {
    int n = s.totalTokens;
    int hd = cfg.headDim();
    int kvw = cfg.numKvHeads() * hd;

    NDArray qkv = w.qkv.apply(normalize(x));
    if (w.bqkv != null) {
      qkv = qkv.addi(w.bqkv.array());
    }
    NDList qkAndV = qkv.split(new long[] {(long) qkRows * hd}, 1);
    NDArray qk = qkAndV.get(0).reshape(n, qkRows, hd);
    if (w.qkNorm != null) {
      qk = normalize(qk).muli(w.qkNorm.array());
    }
    qk = rope(qk, s); // [N, qkRows, 2, half], queries pre-scaled by 1/sqrt(hd)
    NDList qAndK = qk.split(new long[] {cfg.numHeads()}, 1);
    NDArray k = qAndK.get(1).reshape(n, kvw);

    // Write the new tokens' KV into their slots, then read every sequence's whole KV back.
    cache.set(s.writeIndex, k.concat(qkAndV.get(1), 1));
    NDArray all = cache.get(s.manager, s.readIndex); // [B, L, 2 * kvw]
    int b = s.batch;
    int len = s.maxLen;
    int kvHeads = cfg.numKvHeads();
    int group = cfg.groupSize();
    NDList kv = all.reshape(b, len, 2, kvHeads, hd).split(2, 2); // each [B, L, 1, kvH, hd]
    NDArray keys = kv.get(0).transpose(0, 2, 3, 4, 1).squeeze(1); // [B, kvH, hd, L]
    NDArray values = kv.get(1).transpose(0, 2, 3, 1, 4).squeeze(1); // [B, kvH, L, hd]

    // A KV head's queries (its group's heads at every new position) form one matrix, so
    // attention is a plain batched matmul per (sequence, KV head): no broadcasting.
    NDArray q = qAndK.get(0);
    NDArray qPad = s.queryRows == null ? q : q.get(s.queryRows);
    NDArray qg = qPad.reshape(b, s.maxNew, kvHeads, group, hd).transpose(0, 2, 3, 1, 4)
        .reshape(b, kvHeads, (long) group * s.maxNew, hd);
    NDArray scores = qg.matMul(keys).addi(s.mask); // [B, kvH, group * T, L]
    NDArray attn = scores.softmax(-1).matMul(values) // [B, kvH, group * T, hd]
        .reshape(b, kvHeads, group, s.maxNew, hd)
        .transpose(0, 3, 1, 2, 4)
        .reshape(b * s.maxNew, (long) cfg.numHeads() * hd);
    if (s.outputRows != null) {
      attn = attn.get(s.outputRows);
    }
    NDArray o = w.o.apply(attn);
    if (w.bo != null) {
      o = o.addi(w.bo.array());
    }
    x = x.addi(o);

    NDList gateUp = w.gateUp.apply(normalize(x)).split(2, 1);
    NDArray gate = gateUp.get(0);
    NDArray act = gate.getNDArrayInternal().sigmoid().muli(gate).muli(gateUp.get(1));
    return x.addi(w.down.apply(act));
  }

  /** RMSNorm without its weight: x / sqrt(mean(x^2) + eps) over the last axis. */
  private NDArray normalize(NDArray x) {
    NDArray meanSquare = x.square().mean(new int[] {-1}, true);
    return x.div(meanSquare.addi(cfg.rmsNormEps()).sqrt());
  }

  /**
   * Rotary embedding, "rotate half" convention: with x = [x1, x2] halves,
   * out = x * cos + [-x2, x1] * sin. Viewing x as [.., 2, half], flipping the pair axis gives
   * [x2, x1]; the sign is folded into the precomputed sin table.
   */
  private NDArray rope(NDArray x, StepLayout s) {
    NDArray pairs = x.reshape(s.totalTokens, qkRows, 2, cfg.headDim() / 2);
    return pairs.mul(s.cos).addi(pairs.flip(2).muli(s.sinSigned));
  }

  /** NDArrays alive under this model (weights and KV stores): leak tests watch this number. */
  int liveArrays() {
    return manager == null ? 0 : ((ai.djl.ndarray.BaseNDManager) manager).getManagedArrays().size();
  }

  @Override
  public float[] inputEmbedding(int token) {
    if (token < 0 || token >= cfg.vocabSize()) {
      throw new IllegalArgumentException("token id " + token + " outside the vocabulary of " + cfg.vocabSize());
    }
    if (embedT.array() == null) {
      float[] e = new float[cfg.hiddenSize()];
      for (int k = 0; k < e.length; k++) {
        e[k] = embedT.get((long) k * cfg.vocabSize() + token);
      }
      return e;
    }
    try (NDArray column = embedT.array().get(new NDIndex(":, {}", token))) {
      return column.toFloatArray();
    }
  }

  @Override
  public PreparedUpdate prepareUpdate(WeightUpdate update) {
    return PreparedWeights.prepare(this, update);
  }

  @Override
  public void applyUpdate(PreparedUpdate update) {
    if (!(update instanceof PreparedWeights p) || p.model() != this) {
      throw new TreeRollException("weight update: prepared by another model; prepare it with this one");
    }
    for (var e : p.normsRead().entrySet()) {
      if (norms.get(e.getKey()) != e.getValue()) {
        throw new TreeRollException("weight update: prepared against the norm weights of layer " + e.getKey()
            + ", which an update applied since has replaced; prepare it again");
      }
    }
    try (NDManager scratch = manager == null ? null : manager.newSubManager()) {
      for (WeightWrite w : p.writes()) {
        w.apply(scratch);
      }
    }
    p.normsAfter().forEach(norms::set);
    LOG.debug("weight update applied: {} tensors, {} bytes", p.names().size(), p.bytes());
    if (javaForward != null) {
      // The Java path copied the small arrays (biases, norms); the matrices it reads in place.
      try {
        javaForward = JavaForward.create(cfg, embedT, layers, finalNorm, lmHead, invFreq, unfoldedNorms());
      } catch (IllegalStateException e) {
        if (weightType != DType.F32) {
          throw new TreeRollException("weight update: the Java kernels, which alone read " + weightType
              + " weights, could not be rebuilt: " + e.getMessage(), e);
        }
        javaForward = null; // its copies are stale: PyTorch sees the new weights
        LOG.warn("forward path: PyTorch from now on (reason: the Java kernels could not be rebuilt after a weight"
            + " update)", e);
      }
    }
  }

  /** Forward steps this model ran on each path. */
  public ForwardSteps forwardSteps() {
    return steps.snapshot();
  }

  @Override
  public void close() {
    // Arrays over 2 GB are PyTorch's memory, freed now: no step may read them in Java after.
    javaForward = null;
    if (manager != null) {
      manager.close();
    }
  }

  SharedArray embedT() {
    return embedT;
  }

  Projection lmHead() {
    return lmHead;
  }

  SharedArray finalNorm() {
    return finalNorm;
  }

  Layer layerWeights(int l) {
    return layers[l];
  }

  LayerNorms layerNorms(int l) {
    return norms.get(l);
  }

  /** Routes steps of up to {@code tokens} tokens to {@link JavaForward}, larger ones to PyTorch. */
  void setJavaMaxTokens(int tokens) {
    javaMaxTokens = tokens;
  }

  /** Whether steps can run outside PyTorch (see {@link JavaForward}). */
  boolean hasJavaPath() {
    return javaForward != null;
  }

  /** Index tensors and tables for one forward step, built on the Java side. */
  private static final class StepLayout {
    NDManager manager;
    int batch;
    int totalTokens;
    int maxNew;
    int maxLen;
    NDArray tokens; // [N]
    NDIndex writeIndex; // slot of each packed token, [N]
    NDIndex readIndex; // slots of each sequence's KV, [B, L]
    NDArray queryRows; // [B * T] packed row of each padded query, null when no padding
    NDArray outputRows; // [N] padded row of each packed token, null when no padding
    NDArray logitRows; // rows whose logits are returned, null for all
    NDArray mask; // [B, 1, group * T, L] additive: 0 where visible, -inf elsewhere
    // RoPE tables [N, qkRows, 2, half]; query rows carry the 1/sqrt(headDim) attention scale.
    NDArray cos;
    NDArray sinSigned;

    static StepLayout of(List<SequenceChunk> chunks, ModelConfig cfg, double[] invFreq,
        int qkRows, NDManager m) {
      StepLayout s = new StepLayout();
      s.manager = m;
      s.batch = chunks.size();
      int n = 0;
      int maxNew = 0;
      int maxLen = 0;
      boolean allLogits = true;
      for (SequenceChunk c : chunks) {
        int t = c.tokens().length;
        n += t;
        maxNew = Math.max(maxNew, t);
        maxLen = Math.max(maxLen, c.table().length() + t);
        allLogits &= c.allLogits();
      }
      s.totalTokens = n;
      s.maxNew = maxNew;
      s.maxLen = maxLen;
      int half = invFreq.length;
      long[] tokens = new long[n];
      long[] write = new long[n];
      long[] read = new long[s.batch * maxLen];
      long[] queryRows = new long[s.batch * maxNew];
      long[] outputRows = new long[n];
      int group = cfg.groupSize();
      float[] mask = new float[s.batch * group * maxNew * maxLen];
      int rowWidth = qkRows * 2 * half;
      float[] cos = new float[n * rowWidth];
      float[] sin = new float[n * rowWidth];
      float qScale = (float) (1 / Math.sqrt(cfg.headDim()));
      int logitCount = 0;
      for (SequenceChunk c : chunks) {
        logitCount += c.logitRows();
      }
      long[] logitRows = new long[logitCount];
      int row = 0;
      int logit = 0;
      for (int b = 0; b < s.batch; b++) {
        SequenceChunk c = chunks.get(b);
        PageTable table = c.table();
        int start = table.length();
        int t = c.tokens().length;
        int end = start + t;
        for (int l = 0; l < maxLen; l++) {
          read[b * maxLen + l] = l < end ? table.slot(l) : table.slot(0);
        }
        for (int i = 0; i < maxNew; i++) {
          // Padding queries repeat the sequence's first new token; their outputs are dropped.
          queryRows[b * maxNew + i] = row + Math.min(i, t - 1);
          int pos = start + Math.min(i, t - 1);
          for (int g = 0; g < group; g++) {
            int base = ((b * group + g) * maxNew + i) * maxLen;
            for (int l = 0; l < maxLen; l++) {
              mask[base + l] = l <= pos ? 0f : Float.NEGATIVE_INFINITY;
            }
          }
        }
        for (int i = 0; i < t; i++) {
          int pos = start + i;
          tokens[row] = c.tokens()[i];
          write[row] = table.slot(pos);
          outputRows[row] = (long) b * maxNew + i;
          for (int j = 0; j < half; j++) {
            double angle = pos * invFreq[j];
            float cs = (float) Math.cos(angle);
            float sn = (float) Math.sin(angle);
            for (int h = 0; h < qkRows; h++) {
              float scale = h < cfg.numHeads() ? qScale : 1f;
              int at = row * rowWidth + h * 2 * half;
              cos[at + j] = cs * scale;
              cos[at + half + j] = cs * scale;
              sin[at + j] = -sn * scale;
              sin[at + half + j] = sn * scale;
            }
          }
          if (c.allLogits() || i == t - 1) {
            logitRows[logit++] = row;
          }
          row++;
        }
      }
      s.tokens = m.create(tokens);
      s.writeIndex = new NDIndex("{}", m.create(write));
      s.readIndex = new NDIndex("{}", m.create(read, new Shape(s.batch, maxLen)));
      boolean padded = maxNew * s.batch != n;
      s.queryRows = padded ? m.create(queryRows) : null;
      s.outputRows = padded ? m.create(outputRows) : null;
      s.logitRows = allLogits ? null : m.create(logitRows);
      s.mask = m.create(mask, new Shape(s.batch, 1, (long) group * maxNew, maxLen));
      s.cos = m.create(cos, new Shape(n, qkRows, 2, half));
      s.sinSigned = m.create(sin, new Shape(n, qkRows, 2, half));
      return s;
    }
  }

  /**
   * [in, sum(rows_i)]: the transposes of the row-major [rows_i, in] tensors {@code names} side by
   * side. In fp32 row c is scaled by {@code rowScale[c]} (the folded norm weight); 16-bit weights
   * are kept as stored (a folded product would round), and the kernels scale the input instead.
   */
  private static Projection fused(NDManager m, WeightSource weights, DType half, long in, float[] rowScale,
      String[] names, long... rows) {
    int total = 0;
    for (long r : rows) {
      total += (int) r;
    }
    int n = (int) in;
    if (half != DType.F32) {
      SharedArray a = SharedArray.half(half, new Shape(in, total), JavaForward.tileColumns(n, total));
      int col = 0;
      for (int b = 0; b < names.length; b++) {
        a.putTransposed(bits(weights, half, names[b], rows[b], in), (int) rows[b], n, col);
        col += (int) rows[b];
      }
      return new Projection(a, n, total, true);
    }
    float[] out = new float[n * total];
    int col = 0;
    for (int b = 0; b < names.length; b++) {
      int r = (int) rows[b];
      float[] f = fold(weights.read(names[b], rows[b], in), r, n, rowScale);
      for (int c = 0; c < n; c++) {
        System.arraycopy(f, c * r, out, c * total + col, r);
      }
      col += r;
    }
    return new Projection(SharedArray.of(m, out, new Shape(in, total)), n, total, true);
  }

  /**
   * HF's row-major {@code [rows, in]} block transposed to {@code [in, rows]}, row c scaled by
   * {@code rowScale[c]} (unscaled where it is null): how load and weight updates both fold a norm
   * into a matrix.
   */
  static float[] fold(float[] block, int rows, int in, float[] rowScale) {
    float[] out = new float[block.length];
    for (int r = 0; r < rows; r++) {
      int src = r * in;
      for (int c = 0; c < in; c++) {
        out[c * rows + r] = rowScale == null ? block[src + c] : block[src + c] * rowScale[c];
      }
    }
    return out;
  }

  /** The transpose {@code [cols, rows]} of the row-major 16-bit {@code w [rows, cols]}, bits unchanged. */
  static short[] transpose(ShortBuffer w, int rows, int cols) {
    short[] t = new short[rows * cols];
    for (int r0 = 0; r0 < rows; r0 += 64) {
      int end = Math.min(rows, r0 + 64);
      for (int c = 0; c < cols; c++) {
        for (int r = r0; r < end; r++) {
          t[c * rows + r] = w.get(r * cols + c);
        }
      }
    }
    return t;
  }

  static float[] transpose(float[] w, int rows, int cols) {
    float[] t = new float[w.length];
    final int tile = 64;
    for (int r0 = 0; r0 < rows; r0 += tile) {
      for (int c0 = 0; c0 < cols; c0 += tile) {
        int rEnd = Math.min(r0 + tile, rows);
        int cEnd = Math.min(c0 + tile, cols);
        for (int r = r0; r < rEnd; r++) {
          for (int c = c0; c < cEnd; c++) {
            t[c * rows + r] = w[r * cols + c];
          }
        }
      }
    }
    return t;
  }

  private static float[] concat(float[]... parts) {
    int len = 0;
    for (float[] p : parts) {
      len += p.length;
    }
    float[] out = new float[len];
    int at = 0;
    for (float[] p : parts) {
      System.arraycopy(p, 0, out, at, p.length);
      at += p.length;
    }
    return out;
  }
}
