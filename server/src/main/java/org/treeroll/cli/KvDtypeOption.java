package org.treeroll.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import org.treeroll.engine.runtime.KvDtype;
import picocli.CommandLine.Option;

/** {@code --kv-dtype}: how the KV pages of a command's engine store keys and values. */
final class KvDtypeOption {
  @Option(names = "--kv-dtype", defaultValue = "f32", paramLabel = "f32|bf16",
      description = "How KV pages store keys and values: f32 (default) or bf16, half the bytes, so the KV budget"
          + " holds twice the tokens; bf16 runs on the Java Vector API kernels only (refused where steps run on"
          + " PyTorch) and moves log-probs slightly (docs/benchmarks.md)")
  KvDtype kvDtype;

  /** Adds {@code kv_dtype} to a run's settings ({@code run.json}) when it is not the default f32. */
  void addSetting(ObjectNode settings) {
    if (kvDtype != KvDtype.F32) { // only then: settings written before the option still match
      settings.put("kv_dtype", kvDtype.name().toLowerCase(Locale.ROOT));
    }
  }
}
