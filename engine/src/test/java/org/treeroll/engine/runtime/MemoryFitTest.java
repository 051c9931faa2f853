package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.model.Architecture;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.model.ModelPreset;
import org.treeroll.tree.TreeRollException;

/** The check before a load allocates anything: sizes counted per kept type, a model too big refused naming them. */
class MemoryFitTest {
  /** Qwen2.5-72B's shape: 145 GB of BF16 weights, more than any machine the tests run on has available. */
  static final ModelConfig HUGE = new ModelConfig(Architecture.QWEN2, 152064, 8192, 29568, 80, 64, 8, 128,
      1e-6, 1_000_000, 32768, false, true, 151643, new int[] {151643});

  @Test
  void sixteenBitMatricesTakeAboutHalfTheBytesOfFp32() {
    ModelConfig cfg = ModelPreset.QWEN2_5_0_5B.config();
    double ratio = (double) MemoryFit.weightBytes(cfg, DType.BF16) / MemoryFit.weightBytes(cfg, DType.F32);
    assertThat(ratio).isBetween(0.5, 0.501); // the norm and bias vectors stay fp32
  }

  @Test
  void aModelBiggerThanTheMachineIsRefusedNamingBothSizes() {
    assertThatThrownBy(() -> MemoryFit.check(HUGE, DType.BF16))
        .isInstanceOf(TreeRollException.class)
        .hasMessageMatching("the model's weights need 14\\d\\.\\d\\d GB (in memory|of direct memory) as BF16, and this"
            + " (machine has|JVM allows) \\d+\\.\\d\\d GB .*")
        .hasMessageNotContaining("\n");
  }
}
