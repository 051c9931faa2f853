package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 16-bit checkpoint on the CPU never starts PyTorch (about 80 MB resident: libtorch and its
 * engine): load, tree rollouts, generation and scoring all run in Java. Checked in a JVM of its
 * own, since other tests in this one start PyTorch, by whether libtorch is mapped into it.
 */
class PyTorchFreeCpuPathTest {

  static boolean cpuJavaKernels() {
    return Files.isReadable(Path.of("/proc/self/maps")) && Bf16KvPagesTest.javaKernels();
  }

  @Test
  @EnabledIf("cpuJavaKernels")
  void aBf16ModelLoadsRollsOutAndScoresWithoutLoadingLibtorch(@TempDir Path tmp) throws Exception {
    ChildJvm probe = ChildJvm.run(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dai.djl.offline=true", "-DOPT_OUT_TRACKING=true", "-Xmx1g"), PyTorchFreeProbe.class,
        List.of(tmp.resolve("m").toString()), tmp, 3);
    String text = probe.output();
    assertThat(probe.exited()).as("the probe finished within 3 minutes: %s", text).isTrue();
    assertThat(probe.exitValue()).as(text).isZero();
    assertThat(text).contains("weights BF16, scored").contains("libtorch mapped: false");
  }
}
