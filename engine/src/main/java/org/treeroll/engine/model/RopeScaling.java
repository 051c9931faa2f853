package org.treeroll.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Set;
import org.treeroll.tree.TreeRollException;

/**
 * Llama 3.1's RoPE frequency scaling (config.json {@code rope_scaling} of type {@code llama3}):
 * frequencies whose wavelength is longer than the original context ({@code / lowFreqFactor}) are
 * divided by {@code factor}, short ones are kept, and the band between is interpolated. It
 * changes only the frequency table, so every forward path gets it from
 * {@link ModelConfig#ropeInverseFrequencies()}.
 *
 * @param factor how much the long wavelengths are stretched; 1 means no scaling
 * @param originalMaxPositions the context the model was pre-trained at
 */
public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
  /** Plain RoPE. */
  public static final RopeScaling NONE = new RopeScaling(1, 1, 1, 1);

  private static final Set<String> LLAMA3_FIELDS = Set.of("rope_type", "type", "factor", "low_freq_factor",
      "high_freq_factor", "original_max_position_embeddings");

  public RopeScaling {
    if (!(factor >= 1)) {
      throw new TreeRollException("rope_scaling.factor must be >= 1, got " + factor);
    }
    if (!(lowFreqFactor > 0) || !(highFreqFactor >= lowFreqFactor)) {
      throw new TreeRollException("rope_scaling needs 0 < low_freq_factor <= high_freq_factor, got "
          + lowFreqFactor + " and " + highFreqFactor);
    }
    if (originalMaxPositions <= 0) {
      throw new TreeRollException("rope_scaling.original_max_position_embeddings must be > 0, got "
          + originalMaxPositions);
    }
  }

  public boolean isNone() {
    return factor == 1;
  }

  /** Scales plain RoPE's inverse frequencies in place. */
  void apply(double[] invFreq) {
    if (isNone()) {
      return;
    }
    double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
    double highFreqWavelength = originalMaxPositions / highFreqFactor;
    for (int i = 0; i < invFreq.length; i++) {
      double wavelength = 2 * Math.PI / invFreq[i];
      if (wavelength > lowFreqWavelength) {
        invFreq[i] /= factor;
      } else if (wavelength >= highFreqWavelength && highFreqFactor > lowFreqFactor) {
        double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        invFreq[i] = (1 - smooth) * invFreq[i] / factor + smooth * invFreq[i];
      }
    }
  }

  /**
   * config.json's {@code rope_scaling} (or transformers 5's {@code rope_parameters}) at
   * {@code field}: absent, null or type {@code default} is plain RoPE; {@code llama3} is read
   * strictly; any other type or field is refused by name.
   */
  static RopeScaling parse(JsonNode n, String field) {
    if (n == null || n.isMissingNode() || n.isNull()) {
      return NONE;
    }
    if (!n.isObject()) {
      throw new TreeRollException(field + " must be an object or null, got " + n);
    }
    String type = n.path("rope_type").asText(n.path("type").asText("default"));
    if (type.equals("default")) {
      return NONE;
    }
    if (!type.equals("llama3")) {
      throw new TreeRollException(field + ".rope_type '" + type + "' is not supported (only default and llama3)");
    }
    for (var it = n.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      if (!LLAMA3_FIELDS.contains(name) && !name.equals("rope_theta")) {
        throw new TreeRollException(field + "." + name + " is not supported with rope_type llama3");
      }
    }
    return new RopeScaling(number(n, field, "factor"), number(n, field, "low_freq_factor"),
        number(n, field, "high_freq_factor"), (int) number(n, field, "original_max_position_embeddings"));
  }

  private static double number(JsonNode n, String field, String name) {
    JsonNode v = n.get(name);
    if (v == null || !v.isNumber()) {
      throw new TreeRollException(field + "." + name + " is required for rope_type llama3 (a number), got "
          + (v == null ? "nothing" : v));
    }
    return v.asDouble();
  }

  /** Writes this as config.json's {@code rope_scaling}, null when plain. */
  void write(ObjectNode config) {
    if (isNone()) {
      config.putNull("rope_scaling");
      return;
    }
    config.putObject("rope_scaling")
        .put("rope_type", "llama3")
        .put("factor", factor)
        .put("low_freq_factor", lowFreqFactor)
        .put("high_freq_factor", highFreqFactor)
        .put("original_max_position_embeddings", originalMaxPositions);
  }
}
