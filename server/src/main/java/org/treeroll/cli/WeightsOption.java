package org.treeroll.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.treeroll.engine.runtime.WeightPrecision;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Option;

/** {@code --weights}: how the model's matrices are kept in memory ({@link WeightPrecision}). */
final class WeightsOption {
  @Option(names = "--weights", defaultValue = "as-stored",
      description = "How the matrices are kept in memory: as-stored (16-bit checkpoints stay 16-bit on the CPU),"
          + " fp32 (widened at load) or bf16 (fp32 checkpoints rounded to BF16 at load: half the memory, lossy)"
          + " (default: ${DEFAULT-VALUE})")
  String weights;

  /** Adds {@code weights} to a run's settings ({@code run.json}) when it is not the default as-stored. */
  void addSetting(ObjectNode settings) {
    if (precision() != WeightPrecision.AS_STORED) { // only then: settings written before the option still match
      settings.put("weights", weights);
    }
  }

  /** as-stored, fp32 or bf16; anything else is refused naming the option. */
  WeightPrecision precision() {
    WeightPrecision p = parse(weights);
    if (p == null) {
      throw new TreeRollException("--weights must be as-stored, fp32 or bf16, got '" + weights + "'");
    }
    return p;
  }

  /** The precision {@code value} names (as-stored, fp32 or bf16), or null. */
  static WeightPrecision parse(String value) {
    return switch (value) {
      case "as-stored" -> WeightPrecision.AS_STORED;
      case "fp32" -> WeightPrecision.FP32;
      case "bf16" -> WeightPrecision.BF16;
      default -> null;
    };
  }
}
