package org.treeroll.engine.model;

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
}
