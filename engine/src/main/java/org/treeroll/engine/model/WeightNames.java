package org.treeroll.engine.model;

import java.util.LinkedHashMap;
import java.util.Map;

/** Tensor names of the HF Llama/Qwen checkpoint layout. */
public final class WeightNames {
  public static final String EMBED = "model.embed_tokens.weight";
  public static final String FINAL_NORM = "model.norm.weight";
  public static final String LM_HEAD = "lm_head.weight";

  private WeightNames() {}

  /** {@code model.layers.<layer>.<suffix>}, e.g. {@code layer(3, "self_attn.q_proj.weight")}. */
  public static String layer(int layer, String suffix) {
    return "model.layers." + layer + "." + suffix;
  }

  public static final String INPUT_NORM = "input_layernorm.weight";
  public static final String POST_ATTN_NORM = "post_attention_layernorm.weight";
  public static final String Q_PROJ = "self_attn.q_proj";
  public static final String K_PROJ = "self_attn.k_proj";
  public static final String V_PROJ = "self_attn.v_proj";
  public static final String O_PROJ = "self_attn.o_proj";
  public static final String Q_NORM = "self_attn.q_norm.weight";
  public static final String K_NORM = "self_attn.k_norm.weight";
  public static final String GATE_PROJ = "mlp.gate_proj.weight";
  public static final String UP_PROJ = "mlp.up_proj.weight";
  public static final String DOWN_PROJ = "mlp.down_proj.weight";

  /** Every tensor a checkpoint of {@code cfg} holds, with its HF shape, in checkpoint order. */
  public static Map<String, long[]> shapes(ModelConfig cfg) {
    long d = cfg.hiddenSize();
    long q = (long) cfg.numHeads() * cfg.headDim();
    long kv = (long) cfg.numKvHeads() * cfg.headDim();
    long ff = cfg.intermediateSize();
    Map<String, long[]> m = new LinkedHashMap<>();
    m.put(EMBED, new long[] {cfg.vocabSize(), d});
    for (int l = 0; l < cfg.numLayers(); l++) {
      m.put(layer(l, INPUT_NORM), new long[] {d});
      m.put(layer(l, Q_PROJ + ".weight"), new long[] {q, d});
      m.put(layer(l, K_PROJ + ".weight"), new long[] {kv, d});
      m.put(layer(l, V_PROJ + ".weight"), new long[] {kv, d});
      if (cfg.qkvBias()) {
        m.put(layer(l, Q_PROJ + ".bias"), new long[] {q});
        m.put(layer(l, K_PROJ + ".bias"), new long[] {kv});
        m.put(layer(l, V_PROJ + ".bias"), new long[] {kv});
      }
      if (cfg.qkNorm()) {
        m.put(layer(l, Q_NORM), new long[] {cfg.headDim()});
        m.put(layer(l, K_NORM), new long[] {cfg.headDim()});
      }
      m.put(layer(l, O_PROJ + ".weight"), new long[] {d, q});
      if (cfg.outputBias()) {
        m.put(layer(l, O_PROJ + ".bias"), new long[] {d});
      }
      m.put(layer(l, POST_ATTN_NORM), new long[] {d});
      m.put(layer(l, GATE_PROJ), new long[] {ff, d});
      m.put(layer(l, UP_PROJ), new long[] {ff, d});
      m.put(layer(l, DOWN_PROJ), new long[] {d, ff});
    }
    m.put(FINAL_NORM, new long[] {d});
    if (!cfg.tieWordEmbeddings()) {
      m.put(LM_HEAD, new long[] {cfg.vocabSize(), d});
    }
    return m;
  }

  /** Whether {@code name} is a norm weight (initialised near 1, not near 0). */
  public static boolean isNorm(String name) {
    return name.endsWith("norm.weight");
  }
}
