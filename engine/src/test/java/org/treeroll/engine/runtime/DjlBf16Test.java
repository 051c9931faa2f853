package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Why the PyTorch path never computes in BF16: DJL's PyTorch JNI maps its data types to
 * PyTorch's through a switch with no BF16 case, whose default rethrows with no exception active,
 * so the first BF16 tensor, on any device, ends the JVM ({@code std::terminate}); F16 works.
 * Checked in a JVM of its own. When a DJL upgrade fixes it this test fails, and BF16 compute on
 * GPU can be built (docs/architecture.md, "Device and precision").
 */
class DjlBf16Test {

  @Test
  void aBf16TensorEndsTheJvmWhileF16Works(@TempDir Path tmp) throws Exception {
    ChildJvm probe = ChildJvm.run(List.of("-Dai.djl.offline=true", "-DOPT_OUT_TRACKING=true", "-Xmx256m"),
        DjlBf16Probe.class, List.of(), tmp, 2);
    String text = probe.output();
    assertThat(probe.exited()).as("the probe finished within 2 minutes: %s", text).isTrue();
    assertThat(text).as("F16 works").contains("F16 tensor made: float16");
    assertThat(text).as("DJL made a BF16 tensor: BF16 compute in PyTorch is now possible").doesNotContain("BF16 tensor made");
    assertThat(probe.exitValue()).as(text).isNotZero();
  }
}
