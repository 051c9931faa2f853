package org.treeroll.engine.model;

import java.util.Arrays;
import java.util.stream.Collectors;
import org.treeroll.tree.TreeRollException;

/** The decoder families TreeRoll runs, named as HF config.json names them. */
public enum Architecture {
  /** RMSNorm, RoPE, GQA, SwiGLU; optional attention bias on q, k, v and o. */
  LLAMA("LlamaForCausalLM"),
  /** Llama with a bias on q, k and v (never on o). */
  QWEN2("Qwen2ForCausalLM"),
  /** Llama with a per-head RMSNorm on q and k before RoPE. */
  QWEN3("Qwen3ForCausalLM");

  private final String hfName;

  Architecture(String hfName) {
    this.hfName = hfName;
  }

  public String hfName() {
    return hfName;
  }

  public static Architecture fromHfName(String name, String source) {
    for (Architecture a : values()) {
      if (a.hfName.equals(name)) {
        return a;
      }
    }
    throw new TreeRollException(source + ": architecture '" + name + "' is not supported; supported: "
        + Arrays.stream(values()).map(Architecture::hfName).collect(Collectors.joining(", ")));
  }
}
