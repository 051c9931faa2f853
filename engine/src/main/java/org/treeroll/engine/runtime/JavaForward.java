package org.treeroll.engine.runtime;

import java.util.List;
import org.treeroll.engine.model.ModelConfig;

/**
 * {@link LlamaDecoder}'s forward step written in Java, over the same weights and KV pages. On CPU
 * it beats PyTorch at every step size measured here: one token is bound by reading the weights,
 * where PyTorch also pays ~45 native calls per layer; many tokens are bound by the matmuls, where
 * the Java kernels' AVX-512 tiles outrun MKL through PyTorch (see docs/benchmarks.md). The
 * implementation ({@code VectorForward}) uses the JDK's Vector API over memory shared with
 * PyTorch, so it needs JDK 22 or newer (the foreign memory API is final there) and the
 * {@code jdk.incubator.vector} module; the build compiles it only on such a JDK, and without it
 * every step runs on PyTorch.
 */
interface JavaForward {

  /** Logits {@code [rows, vocab]} row-major, rows as {@link Model#forward} orders them. */
  float[] forward(List<SequenceChunk> chunks, KvStore kv);

  /** Whether this JVM can run the implementation: JDK 22+, the module present, the class built. */
  static boolean available() {
    if (Runtime.version().feature() < 22 || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return false;
    }
    try {
      Class.forName("org.treeroll.engine.runtime.VectorForward", false, JavaForward.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false; // built on a JDK without the kernels
    }
  }

  /** The Vector API implementation over these weights, or null where it cannot run. */
  static JavaForward create(ModelConfig cfg, SharedArray embedT, LlamaDecoder.Layer[] layers,
      SharedArray finalNorm, LlamaDecoder.Projection lmHead, double[] invFreq) {
    if (!available()) {
      return null;
    }
    try {
      return (JavaForward) Class.forName("org.treeroll.engine.runtime.VectorForward")
          .getDeclaredConstructor(ModelConfig.class, SharedArray.class, LlamaDecoder.Layer[].class,
              SharedArray.class, LlamaDecoder.Projection.class, double[].class)
          .newInstance(cfg, embedT, layers, finalNorm, lmHead, invFreq);
    } catch (ReflectiveOperationException | LinkageError e) {
      return null;
    }
  }
}
