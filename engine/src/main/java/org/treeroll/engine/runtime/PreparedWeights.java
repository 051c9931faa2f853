package org.treeroll.engine.runtime;

import static org.treeroll.engine.model.WeightNames.*;

import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.treeroll.engine.io.DType;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.treeroll.engine.io.WeightUpdate;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.WeightNames;
import org.treeroll.tree.TreeRollException;

/**
 * A {@link WeightUpdate} checked against a {@link LlamaDecoder} and converted into its layout
 * (transposed, fused, norm-folded), so that applying it only copies.
 *
 * @param model the decoder it was prepared for
 * @param normsRead each layer's kept norm weights it folded with or carried over, which must
 *     still be the decoder's when it is applied
 * @param normsAfter each layer's norm weights once it is applied, where they change
 */
record PreparedWeights(
    LlamaDecoder model,
    Set<String> names,
    List<WeightWrite> writes,
    Map<Integer, LlamaDecoder.LayerNorms> normsRead,
    Map<Integer, LlamaDecoder.LayerNorms> normsAfter)
    implements Model.PreparedUpdate {

  private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");

  @Override
  public long bytes() {
    long n = 0;
    for (WeightWrite w : writes) {
      n += w.bytes();
    }
    for (LlamaDecoder.LayerNorms ln : normsAfter.values()) {
      n += 4L * (ln.input().length + ln.postAttention().length);
    }
    return n;
  }

  /** Checks everything, reading each tensor once, then lays the values out as {@code model} holds them. */
  static PreparedWeights prepare(LlamaDecoder model, WeightUpdate update) {
    ModelConfig cfg = model.config();
    Map<String, long[]> shapes = WeightNames.shapes(cfg);
    Set<String> names = update.names();
    for (String name : names) {
      long[] expected = shapes.get(name);
      if (expected == null) {
        throw new TreeRollException("weight update: unknown tensor '" + name + "' (" + whyUnknown(cfg, name) + ")");
      }
      long[] shape = update.shape(name);
      if (!Arrays.equals(shape, expected)) {
        throw new TreeRollException("weight update: '" + name + "' has shape " + Arrays.toString(shape)
            + ", the model's is " + Arrays.toString(expected));
      }
    }
    boolean folds = model.weightType() == DType.F32; // 16-bit matrices keep norms apart
    for (int l = 0; l < cfg.numLayers() && folds; l++) {
      requireFoldedInto(names, l, INPUT_NORM, "q_proj, k_proj and v_proj",
          Q_PROJ + ".weight", K_PROJ + ".weight", V_PROJ + ".weight");
      requireFoldedInto(names, l, POST_ATTN_NORM, "gate_proj and up_proj", GATE_PROJ, UP_PROJ);
    }

    // Norms first: the matrices they fold into need them.
    Map<Integer, LlamaDecoder.LayerNorms> read = new LinkedHashMap<>();
    Map<Integer, LlamaDecoder.LayerNorms> after = new LinkedHashMap<>();
    for (int l = 0; l < cfg.numLayers(); l++) {
      if (!foldsNorms(names, l)) {
        continue;
      }
      LlamaDecoder.LayerNorms kept = model.layerNorms(l);
      read.put(l, kept);
      String in = layer(l, INPUT_NORM);
      String post = layer(l, POST_ATTN_NORM);
      if (names.contains(in) || names.contains(post)) {
        after.put(l, new LlamaDecoder.LayerNorms(
            names.contains(in) ? readFinite(update, in) : kept.input(),
            names.contains(post) ? readFinite(update, post) : kept.postAttention()));
      }
    }

    List<WeightWrite> writes = new ArrayList<>();
    int q = cfg.numHeads() * cfg.headDim();
    int kv = cfg.numKvHeads() * cfg.headDim();
    int d = cfg.hiddenSize();
    int ff = cfg.intermediateSize();
    for (String name : names) {
      if (name.equals(EMBED)) {
        writes.add(inMajor(model.embedT(), 0, update, name, cfg.vocabSize(), d, null));
        continue;
      }
      if (name.equals(LM_HEAD)) {
        writes.add(projection(model.lmHead(), update, name));
        continue;
      }
      if (name.equals(FINAL_NORM)) {
        writes.add(WeightWrite.whole(model.finalNorm(), readFinite(update, name)));
        continue;
      }
      Matcher m = LAYER.matcher(name);
      if (!m.matches()) {
        throw new IllegalStateException("no layout for " + name); // every name of shapes() is handled
      }
      int l = Integer.parseInt(m.group(1));
      String suffix = m.group(2);
      LlamaDecoder.Layer w = model.layerWeights(l);
      LlamaDecoder.LayerNorms norms = after.getOrDefault(l, read.get(l));
      switch (suffix) {
        case INPUT_NORM, POST_ATTN_NORM -> {} // kept above, and folded into the matrices below
        case Q_PROJ + ".weight" -> writes.add(folded(w.qkv(), 0, update, name, q, norms.input()));
        case K_PROJ + ".weight" -> writes.add(folded(w.qkv(), q, update, name, kv, norms.input()));
        case V_PROJ + ".weight" -> writes.add(folded(w.qkv(), q + kv, update, name, kv, norms.input()));
        case Q_PROJ + ".bias" -> writes.add(WeightWrite.columns(w.bqkv(), 0, q, readFinite(update, name)));
        case K_PROJ + ".bias" -> writes.add(WeightWrite.columns(w.bqkv(), q, q + kv, readFinite(update, name)));
        case V_PROJ + ".bias" -> writes.add(WeightWrite.columns(w.bqkv(), q + kv, q + 2 * kv, readFinite(update, name)));
        case Q_NORM -> writes.add(perHead(w.qkNorm(), 0, cfg.numHeads(), readFinite(update, name)));
        case K_NORM -> writes.add(perHead(w.qkNorm(), cfg.numHeads(), cfg.numKvHeads(), readFinite(update, name)));
        case O_PROJ + ".weight" -> writes.add(projection(w.o(), update, name));
        case O_PROJ + ".bias" -> writes.add(WeightWrite.whole(w.bo(), readFinite(update, name)));
        case GATE_PROJ -> writes.add(folded(w.gateUp(), 0, update, name, ff, norms.postAttention()));
        case UP_PROJ -> writes.add(folded(w.gateUp(), ff, update, name, ff, norms.postAttention()));
        case DOWN_PROJ -> writes.add(projection(w.down(), update, name));
        default -> throw new IllegalStateException("no layout for " + name);
      }
    }
    return new PreparedWeights(model, Collections.unmodifiableSet(new LinkedHashSet<>(names)),
        List.copyOf(writes), Collections.unmodifiableMap(read), Collections.unmodifiableMap(after));
  }

  /** Whether the update touches a norm of layer {@code l} or a matrix one is folded into. */
  private static boolean foldsNorms(Set<String> names, int l) {
    for (String s : List.of(INPUT_NORM, POST_ATTN_NORM, Q_PROJ + ".weight", K_PROJ + ".weight",
        V_PROJ + ".weight", GATE_PROJ, UP_PROJ)) {
      if (names.contains(layer(l, s))) {
        return true;
      }
    }
    return false;
  }

  /**
   * A norm weight lives only folded into the rows of the matrices after it; dividing the old one
   * back out is inexact, so new norm values are folded into new matrices only.
   */
  private static void requireFoldedInto(Set<String> names, int l, String norm, String into, String... matrices) {
    if (!names.contains(layer(l, norm))) {
      return;
    }
    Set<String> missing = new TreeSet<>();
    for (String mat : matrices) {
      if (!names.contains(layer(l, mat))) {
        missing.add(layer(l, mat));
      }
    }
    if (!missing.isEmpty()) {
      throw new TreeRollException("weight update: '" + layer(l, norm) + "' is folded into " + into
          + " of layer " + l + ": send them in the same update (missing: " + String.join(", ", missing) + ")");
    }
  }

  /** One HF block {@code [rows, in]} of a fused in-major matrix, at columns {@code [col, col + rows)}. */
  private static WeightWrite folded(LlamaDecoder.Projection fused, int col, WeightUpdate update, String name, int rows,
      float[] norm) {
    return inMajor(fused.shared(), col, update, name, rows, fused.in(), norm);
  }

  /** A HF matrix {@code [out, in]} in the projection's own orientation. */
  private static WeightWrite projection(LlamaDecoder.Projection p, WeightUpdate update, String name) {
    if (p.inMajor()) {
      return inMajor(p.shared(), 0, update, name, p.out(), p.in(), null);
    }
    return WeightWrite.whole(p.shared(), readFinite(update, name));
  }

  /**
   * HF's {@code [rows, in]} tensor transposed into columns {@code [col, col + rows)} of an in-major
   * {@code target}, row c scaled by {@code norm[c]} where the target is fp32 and a norm is folded.
   * A 16-bit target sent its own type gets the bits as sent, never widened; any other pair of
   * types goes through fp32 (and rounds to a 16-bit target's type).
   */
  private static WeightWrite inMajor(SharedArray target, int col, WeightUpdate update, String name, int rows, int in,
      float[] norm) {
    if (target.type() != DType.F32 && update.dtype(name) == target.type()) {
      ShortBuffer bits = update.readBits(name);
      for (int i = 0, n = bits.limit(); i < n; i++) {
        if (target.type().nonFinite(bits.get(i))) {
          throw new TreeRollException("weight update: '" + name + "' holds " + target.type().widen(bits.get(i))
              + " at " + position(update.shape(name), i) + ": weights must be finite");
        }
      }
      return WeightWrite.columns(target, col, col + rows, LlamaDecoder.transpose(bits, rows, in));
    }
    float[] scale = target.type() == DType.F32 ? norm : null;
    return WeightWrite.columns(target, col, col + rows, LlamaDecoder.fold(readFinite(update, name), rows, in, scale));
  }

  /** A per-head norm weight repeated over {@code heads} rows of the q/k norm from {@code row}. */
  private static WeightWrite perHead(SharedArray qkNorm, int row, int heads, float[] w) {
    float[] rows = new float[heads * w.length];
    for (int h = 0; h < heads; h++) {
      System.arraycopy(w, 0, rows, h * w.length, w.length);
    }
    return new WeightWrite(qkNorm, row, row + heads, 0, w.length, rows);
  }

  /** The tensor as fp32, refused if any value is NaN or infinite (a diverged training step). */
  private static float[] readFinite(WeightUpdate update, String name) {
    float[] v = update.readFloats(name);
    for (int i = 0; i < v.length; i++) {
      if (!Float.isFinite(v[i])) {
        throw new TreeRollException("weight update: '" + name + "' holds " + v[i] + " at "
            + position(update.shape(name), i) + ": weights must be finite");
      }
    }
    return v;
  }

  /** Row-major flat index {@code i} as {@code [i0, i1, ...]}. */
  private static String position(long[] shape, long i) {
    long[] at = new long[shape.length];
    for (int k = shape.length - 1; k >= 0; k--) {
      at[k] = i % shape[k];
      i /= shape[k];
    }
    return Arrays.toString(at);
  }

  private static String whyUnknown(ModelConfig cfg, String name) {
    String arch = cfg.architecture().hfName();
    if (name.equals(LM_HEAD) && cfg.tieWordEmbeddings()) {
      return "the model ties its LM head to the embedding: send " + EMBED;
    }
    Matcher m = LAYER.matcher(name);
    if (!m.matches()) {
      return "not a tensor of a " + arch + " model";
    }
    String suffix = m.group(2);
    if (m.group(1).length() > 9 || Integer.parseInt(m.group(1)) >= cfg.numLayers()) {
      return "the model has " + cfg.numLayers() + " layers";
    }
    if (suffix.equals(Q_PROJ + ".bias") || suffix.equals(K_PROJ + ".bias") || suffix.equals(V_PROJ + ".bias")) {
      return "this " + arch + " model has no q, k and v biases";
    }
    if (suffix.equals(O_PROJ + ".bias")) {
      return "this " + arch + " model has no o_proj bias";
    }
    if (suffix.equals(Q_NORM) || suffix.equals(K_NORM)) {
      return "only Qwen3ForCausalLM has q_norm and k_norm; this model is " + arch;
    }
    return "not a tensor of a " + arch + " layer";
  }
}
