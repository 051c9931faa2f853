package org.treeroll.engine.runtime;

import java.util.List;
import org.treeroll.engine.model.ModelConfig;

/**
 * A forward step of {@link LlamaDecoder} for a few tokens, run outside PyTorch. Such a step is
 * bound by reading every weight once, and through PyTorch it also pays ~45 native calls per
 * layer that cost more than their arithmetic. The implementation ({@code VectorForward}) uses the
 * JDK's Vector API over memory shared with PyTorch, so it needs JDK 22 or newer (the foreign
 * memory API is final there) and the {@code jdk.incubator.vector} module; the build compiles it
 * only on such a JDK, and without it every step runs on PyTorch.
 */
interface SmallStepForward {

  /** Logits {@code [rows, vocab]} row-major, rows as {@link Model#forward} orders them. */
  float[] forward(List<SequenceChunk> chunks, KvStore kv);

  /** The Vector API implementation over these weights, or null where it cannot run. */
  static SmallStepForward create(ModelConfig cfg, SharedArray embedT, LlamaDecoder.Layer[] layers,
      SharedArray finalNorm, LlamaDecoder.Projection lmHead, double[] invFreq) {
    if (Runtime.version().feature() < 22 || ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return null;
    }
    try {
      return (SmallStepForward) Class.forName("org.treeroll.engine.runtime.VectorForward")
          .getDeclaredConstructor(ModelConfig.class, SharedArray.class, LlamaDecoder.Layer[].class,
              SharedArray.class, LlamaDecoder.Projection.class, double[].class)
          .newInstance(cfg, embedT, layers, finalNorm, lmHead, invFreq);
    } catch (ReflectiveOperationException | LinkageError e) {
      return null; // built on a JDK without the kernels
    }
  }
}
