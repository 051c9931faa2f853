package org.treeroll.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.treeroll.tree.TreeRollException;

/**
 * The shape of a decoder as HF config.json describes it. Options TreeRoll does not implement
 * (rope scaling other than Llama 3's, sliding windows, other activations) are refused by name when
 * the file is read, never silently ignored: a model that loads computes what its authors meant.
 *
 * @param eosTokenIds ids that end a sequence according to config.json (may be empty)
 * @param bosTokenId the begin-of-sequence id, or -1 when the config has none
 */
public record ModelConfig(
    Architecture architecture,
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    double rmsNormEps,
    double ropeTheta,
    int maxPositionEmbeddings,
    boolean tieWordEmbeddings,
    boolean attentionBias,
    int bosTokenId,
    int[] eosTokenIds,
    RopeScaling ropeScaling) {

  public ModelConfig {
    positive("vocab_size", vocabSize);
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", numLayers);
    positive("num_attention_heads", numHeads);
    positive("num_key_value_heads", numKvHeads);
    positive("head_dim", headDim);
    positive("max_position_embeddings", maxPositionEmbeddings);
    if (numHeads % numKvHeads != 0) {
      throw new TreeRollException("num_attention_heads (" + numHeads
          + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
    }
    if (headDim % 2 != 0) {
      throw new TreeRollException("head_dim must be even for RoPE, got " + headDim);
    }
    if (!(rmsNormEps > 0)) {
      throw new TreeRollException("rms_norm_eps must be > 0, got " + rmsNormEps);
    }
    if (!(ropeTheta > 0)) {
      throw new TreeRollException("rope_theta must be > 0, got " + ropeTheta);
    }
    eosTokenIds = eosTokenIds.clone();
    ropeScaling = ropeScaling == null ? RopeScaling.NONE : ropeScaling;
  }

  /** A config with plain (unscaled) RoPE. */
  public ModelConfig(Architecture architecture, int vocabSize, int hiddenSize, int intermediateSize, int numLayers,
      int numHeads, int numKvHeads, int headDim, double rmsNormEps, double ropeTheta, int maxPositionEmbeddings,
      boolean tieWordEmbeddings, boolean attentionBias, int bosTokenId, int[] eosTokenIds) {
    this(architecture, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, rmsNormEps,
        ropeTheta, maxPositionEmbeddings, tieWordEmbeddings, attentionBias, bosTokenId, eosTokenIds,
        RopeScaling.NONE);
  }

  /**
   * RoPE's inverse frequency of each rotated pair, {@code theta^(-2i / head_dim)}, with
   * {@link #ropeScaling} applied: the one table every forward path turns by.
   */
  public double[] ropeInverseFrequencies() {
    double[] invFreq = new double[headDim / 2];
    for (int i = 0; i < invFreq.length; i++) {
      invFreq[i] = Math.pow(ropeTheta, -2.0 * i / headDim);
    }
    ropeScaling.apply(invFreq);
    return invFreq;
  }

  public ModelConfig withRopeScaling(RopeScaling scaling) {
    return new ModelConfig(architecture, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads,
        headDim, rmsNormEps, ropeTheta, maxPositionEmbeddings, tieWordEmbeddings, attentionBias, bosTokenId,
        eosTokenIds, scaling);
  }

  /** Query heads per key/value head (grouped-query attention). */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  /** Whether q, k and v projections carry a bias. */
  public boolean qkvBias() {
    return architecture == Architecture.QWEN2 || attentionBias;
  }

  /** Whether the attention output projection carries a bias. */
  public boolean outputBias() {
    return architecture != Architecture.QWEN2 && attentionBias;
  }

  /** Whether q and k get a per-head RMSNorm before RoPE (Qwen3). */
  public boolean qkNorm() {
    return architecture == Architecture.QWEN3;
  }

  /** Parameter count, embeddings included once when tied. */
  public long parameterCount() {
    long n = 0;
    for (long[] shape : WeightNames.shapes(this).values()) {
      long size = 1;
      for (long dim : shape) {
        size *= dim;
      }
      n += size;
    }
    return n;
  }

  /** Reads and validates {@code dir/config.json}. */
  public static ModelConfig read(Path dir) {
    Path file = dir.resolve("config.json");
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(file.toFile());
    } catch (NoSuchFileException e) {
      throw new TreeRollException(file + ": file not found");
    } catch (IOException e) {
      if (!Files.exists(file)) {
        throw new TreeRollException(file + ": file not found");
      }
      throw new TreeRollException(file + ": not valid JSON: " + e.getMessage(), e);
    }
    return parse(root, file.toString());
  }

  /** Validates a parsed config.json; {@code src} names it in error messages. */
  public static ModelConfig parse(JsonNode root, String src) {
    if (!root.isObject()) {
      throw new TreeRollException(src + ": expected a JSON object");
    }
    JsonNode archs = root.path("architectures");
    if (!archs.isArray() || archs.isEmpty()) {
      throw new TreeRollException(src + ": field 'architectures' is missing or empty");
    }
    Architecture arch = Architecture.fromHfName(archs.get(0).asText(), src);
    String act = root.path("hidden_act").asText("silu");
    if (!act.equals("silu")) {
      throw new TreeRollException(src + ": hidden_act '" + act + "' is not supported (only silu)");
    }
    if (root.has("rope_scaling") && !root.get("rope_scaling").isNull() && root.has("rope_parameters")) {
      throw new TreeRollException(src + ": give rope_scaling or rope_parameters, not both");
    }
    // transformers 5 writes rope_parameters, which may carry rope_theta too.
    String ropeField = root.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
    JsonNode ropeNode = root.get(ropeField);
    RopeScaling scaling;
    try {
      scaling = RopeScaling.parse(ropeNode, ropeField);
    } catch (TreeRollException e) {
      throw new TreeRollException(src + ": " + e.getMessage(), e);
    }
    double theta = ropeNode != null && ropeNode.has("rope_theta") ? ropeNode.get("rope_theta").asDouble()
        : root.path("rope_theta").asDouble(10000.0);
    int pretrainingTp = root.path("pretraining_tp").asInt(1);
    if (pretrainingTp != 1) {
      throw new TreeRollException(src + ": pretraining_tp " + pretrainingTp + " is not supported (only 1)");
    }
    if (root.path("use_sliding_window").asBoolean(false)) {
      throw new TreeRollException(src + ": use_sliding_window=true is not supported");
    }
    if (root.path("mlp_bias").asBoolean(false)) {
      throw new TreeRollException(src + ": mlp_bias=true is not supported");
    }
    double partial = root.path("partial_rotary_factor").asDouble(1.0);
    if (partial != 1.0) {
      throw new TreeRollException(src + ": partial_rotary_factor " + partial + " is not supported");
    }
    int hidden = requiredInt(root, "hidden_size", src);
    int heads = requiredInt(root, "num_attention_heads", src);
    int kvHeads = root.has("num_key_value_heads") && !root.get("num_key_value_heads").isNull()
        ? requiredInt(root, "num_key_value_heads", src) : heads;
    int headDim = root.has("head_dim") && !root.get("head_dim").isNull()
        ? requiredInt(root, "head_dim", src) : hidden / Math.max(heads, 1);
    int vocab = requiredInt(root, "vocab_size", src);
    int ff = requiredInt(root, "intermediate_size", src);
    int layers = requiredInt(root, "num_hidden_layers", src);
    try {
      return new ModelConfig(
        arch,
        vocab,
        hidden,
        ff,
        layers,
        heads,
        kvHeads,
        headDim,
        root.path("rms_norm_eps").asDouble(1e-6),
        theta,
        root.path("max_position_embeddings").asInt(32768),
        root.path("tie_word_embeddings").asBoolean(false),
        root.path("attention_bias").asBoolean(false),
        root.path("bos_token_id").isInt() ? root.get("bos_token_id").asInt() : -1,
        tokenIds(root.path("eos_token_id")),
        scaling);
    } catch (TreeRollException e) {
      throw new TreeRollException(src + ": " + e.getMessage(), e);
    }
  }

  /** The config.json text for this configuration (used when generating model directories). */
  public ObjectNode toJson() {
    ObjectMapper m = new ObjectMapper();
    ObjectNode o = m.createObjectNode();
    o.putArray("architectures").add(architecture.hfName());
    o.put("model_type", switch (architecture) {
      case LLAMA -> "llama";
      case QWEN2 -> "qwen2";
      case QWEN3 -> "qwen3";
    });
    o.put("vocab_size", vocabSize);
    o.put("hidden_size", hiddenSize);
    o.put("intermediate_size", intermediateSize);
    o.put("num_hidden_layers", numLayers);
    o.put("num_attention_heads", numHeads);
    o.put("num_key_value_heads", numKvHeads);
    o.put("head_dim", headDim);
    o.put("hidden_act", "silu");
    o.put("rms_norm_eps", rmsNormEps);
    o.put("rope_theta", ropeTheta);
    o.put("max_position_embeddings", maxPositionEmbeddings);
    o.put("tie_word_embeddings", tieWordEmbeddings);
    o.put("attention_bias", attentionBias);
    ropeScaling.write(o);
    if (bosTokenId >= 0) {
      o.put("bos_token_id", bosTokenId);
    }
    ArrayNode eos = o.putArray("eos_token_id");
    for (int id : eosTokenIds) {
      eos.add(id);
    }
    o.put("torch_dtype", "float32");
    return o;
  }

  private static int requiredInt(JsonNode root, String field, String src) {
    JsonNode n = root.get(field);
    if (n == null || n.isNull()) {
      throw new TreeRollException(src + ": field '" + field + "' is missing");
    }
    if (!n.canConvertToInt() || !n.isIntegralNumber()) {
      throw new TreeRollException(src + ": field '" + field + "' must be an integer, got " + n);
    }
    return n.asInt();
  }

  private static int[] tokenIds(JsonNode n) {
    if (n.isInt()) {
      return new int[] {n.asInt()};
    }
    if (n.isArray()) {
      int[] ids = new int[n.size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = n.get(i).asInt();
      }
      return ids;
    }
    return new int[0];
  }

  private static void positive(String field, int v) {
    if (v <= 0) {
      throw new TreeRollException("field '" + field + "' must be > 0, got " + v);
    }
  }
}
