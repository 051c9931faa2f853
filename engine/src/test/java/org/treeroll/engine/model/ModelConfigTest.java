package org.treeroll.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.TreeRollException;

class ModelConfigTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void roundTripsThroughConfigJson() {
    for (ModelPreset p : ModelPreset.values()) {
      ModelConfig c = p.config();
      ModelConfig back = ModelConfig.parse(c.toJson(), "config.json");
      assertThat(back).usingRecursiveComparison().isEqualTo(c);
    }
  }

  @Test
  void qwenShapesHaveThePublishedParameterCounts() {
    // Qwen2.5-0.5B: 494,032,768 parameters (tied); Qwen3-0.6B: 596,049,920 (tied).
    assertThat(ModelPreset.QWEN2_5_0_5B.config().parameterCount()).isEqualTo(494_032_768L);
    assertThat(ModelPreset.QWEN3_0_6B.config().parameterCount()).isEqualTo(596_049_920L);
  }

  @Test
  void defaultsFollowHf() {
    ObjectNode o = minimal("LlamaForCausalLM");
    ModelConfig c = ModelConfig.parse(o, "x");
    assertThat(c.numKvHeads()).isEqualTo(4); // defaults to num_attention_heads
    assertThat(c.headDim()).isEqualTo(16); // hidden / heads
    assertThat(c.tieWordEmbeddings()).isFalse();
    assertThat(c.qkvBias()).isFalse();
    assertThat(ModelConfig.parse(minimal("Qwen2ForCausalLM"), "x").qkvBias()).isTrue();
    assertThat(ModelConfig.parse(minimal("Qwen2ForCausalLM"), "x").outputBias()).isFalse();
    assertThat(ModelConfig.parse(minimal("Qwen3ForCausalLM"), "x").qkNorm()).isTrue();
  }

  @Test
  void unsupportedOptionsAreRefusedByName() {
    assertRefused(minimal("MistralForCausalLM"), "architecture 'MistralForCausalLM'");
    ObjectNode yarn = minimal("LlamaForCausalLM");
    yarn.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
    assertRefused(yarn, "rope_scaling.rope_type 'yarn'");
    ObjectNode partial = minimal("LlamaForCausalLM");
    ObjectNode withoutHigh = llama31Scaling();
    withoutHigh.remove("high_freq_factor");
    partial.set("rope_scaling", withoutHigh);
    assertRefused(partial, "rope_scaling.high_freq_factor is required");
    ObjectNode extra = minimal("LlamaForCausalLM");
    extra.set("rope_scaling", llama31Scaling().put("beta_fast", 32));
    assertRefused(extra, "rope_scaling.beta_fast");
    ObjectNode tp = minimal("LlamaForCausalLM");
    tp.put("pretraining_tp", 2);
    assertRefused(tp, "pretraining_tp 2");
    ObjectNode sliding = minimal("Qwen2ForCausalLM");
    sliding.put("use_sliding_window", true);
    assertRefused(sliding, "use_sliding_window");
    ObjectNode gelu = minimal("LlamaForCausalLM");
    gelu.put("hidden_act", "gelu");
    assertRefused(gelu, "hidden_act 'gelu'");
    ObjectNode missing = minimal("LlamaForCausalLM");
    missing.remove("vocab_size");
    assertRefused(missing, "'vocab_size' is missing");
    ObjectNode badGroups = minimal("LlamaForCausalLM");
    badGroups.put("num_key_value_heads", 3);
    assertRefused(badGroups, "multiple of num_key_value_heads");
  }

  /** Llama-3.1-8B's config.json carries exactly these rope_scaling fields. */
  private static ObjectNode llama31Scaling() {
    return JSON.createObjectNode().put("factor", 8.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0)
        .put("original_max_position_embeddings", 8192).put("rope_type", "llama3");
  }

  @Test
  void llama31RopeScalingIsReadAndRoundTrips() {
    ObjectNode o = minimal("LlamaForCausalLM");
    o.set("rope_scaling", llama31Scaling());
    o.put("pretraining_tp", 1);
    o.put("rope_theta", 500000.0);
    ModelConfig c = ModelConfig.parse(o, "x");
    assertThat(c.ropeScaling()).isEqualTo(new RopeScaling(8, 1, 4, 8192));
    assertThat(ModelConfig.parse(c.toJson(), "x")).usingRecursiveComparison().isEqualTo(c);
    // Wavelengths: pair 0 is 2*pi (short, kept); the last pair's is far past 8192 (divided by 8).
    double[] plain = ModelConfig.parse(minimal("LlamaForCausalLM").put("rope_theta", 500000.0), "x")
        .ropeInverseFrequencies();
    double[] scaled = c.ropeInverseFrequencies();
    assertThat(scaled[0]).isEqualTo(plain[0]);
    assertThat(scaled[scaled.length - 1]).isCloseTo(plain[plain.length - 1] / 8, org.assertj.core.data.Offset.offset(1e-15));
    // transformers 5 spells it rope_parameters, theta inside.
    ObjectNode v5 = minimal("LlamaForCausalLM");
    v5.set("rope_parameters", llama31Scaling().put("rope_theta", 500000.0));
    assertThat(ModelConfig.parse(v5, "x")).usingRecursiveComparison().isEqualTo(c);
  }

  @Test
  void missingAndMalformedFilesNameTheFile(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> ModelConfig.read(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("config.json").hasMessageContaining("not found");
    Files.writeString(dir.resolve("config.json"), "{ not json");
    assertThatThrownBy(() -> ModelConfig.read(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("config.json").hasMessageContaining("not valid JSON");
  }

  private static void assertRefused(ObjectNode o, String message) {
    assertThatThrownBy(() -> ModelConfig.parse(o, "m/config.json"))
        .isInstanceOf(TreeRollException.class)
        .hasMessageContaining("m/config.json")
        .hasMessageContaining(message);
  }

  private static ObjectNode minimal(String arch) {
    ObjectNode o = JSON.createObjectNode();
    o.putArray("architectures").add(arch);
    o.put("vocab_size", 100);
    o.put("hidden_size", 64);
    o.put("intermediate_size", 128);
    o.put("num_hidden_layers", 2);
    o.put("num_attention_heads", 4);
    return o;
  }
}
