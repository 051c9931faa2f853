package org.treeroll.engine.runtime;

import java.lang.reflect.InvocationTargetException;
import java.util.List;
import org.treeroll.engine.sampling.NextTokenDistributions;
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
  String IMPLEMENTATION = "org.treeroll.engine.runtime.VectorForward";

  /**
   * Logits {@code [rows, vocab]} row-major, rows as {@link Model#forward} orders them.
   * {@code fixedOrder}: each row's numbers depend on its own tokens only (see {@link Model#forward}).
   */
  float[] forward(List<SequenceChunk> chunks, KvStore kv, boolean fixedOrder);

  /**
   * The next-token distributions of logits {@code [rows, vocab]} (row-major, as {@link #forward}
   * returns them), each row at its temperature, in vectors: what
   * {@link NextTokenDistributions#of(ai.djl.ndarray.NDArray, float[], boolean)} computes through
   * PyTorch, without the copies in and out. Not for fixed-order steps
   * ({@link NextTokenDistributions#inFixedOrder(float[], int, float[], boolean)}).
   */
  NextTokenDistributions distributions(float[] logits, int vocab, float[] temperatures, boolean keepLogits);

  /**
   * {@link Model#scores} from logits {@code [rows, vocab]}: each row's log-softmax at
   * {@code targets[r]} and its entropy, at {@code temperature}, without writing the probabilities.
   */
  float[][] scores(float[] logits, int vocab, int[] targets, float temperature);

  /** Waits until the kernels' warm-up, which creating them started, has compiled them. */
  void awaitWarmUp();

  /** What runs the steps, for the log: e.g. "Java Vector API kernels (JDK 25, CPU, 512-bit vectors: 16 float lanes)". */
  String description();

  /** Whether this JVM can run the implementation: JDK 22+, the module present, the class built. */
  static boolean available() {
    return unavailableReason() == null;
  }

  /** Why this JVM cannot run the implementation, or null if it can. */
  static String unavailableReason() {
    int jdk = Runtime.version().feature();
    if (jdk < 22) {
      return "JDK " + jdk + " has no Vector API path; the kernels need JDK 22+ with jdk.incubator.vector";
    }
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      return "the jdk.incubator.vector module is not loaded; start the JVM with --add-modules jdk.incubator.vector";
    }
    try {
      Class.forName(IMPLEMENTATION, false, JavaForward.class.getClassLoader());
      return null;
    } catch (ClassNotFoundException | LinkageError e) {
      return "this build has no Vector API kernels (it was compiled on a JDK before 22)";
    }
  }

  /**
   * Columns per tile where the kernels read a 16-bit {@code [in, out]} matrix fastest stored in
   * tiles ({@link SharedArray#tileColumns}), else 0 for row-major; the caller has checked
   * {@link #available}.
   */
  static int tileColumns(int in, int out) {
    try {
      return (int) Class.forName(IMPLEMENTATION).getDeclaredMethod("tileColumns", int.class, int.class)
          .invoke(null, in, out);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("the Vector API kernels failed: " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException | LinkageError e) {
      throw new IllegalStateException("the Vector API kernels cannot be reached: " + e, e);
    }
  }

  /**
   * The Vector API implementation over these weights; the caller has checked {@link #available}.
   * {@code norms} are the layers' RMSNorm weights where they are not folded into the matrices
   * (16-bit weights), else null.
   *
   * @throws IllegalStateException with the cause if it cannot be created all the same
   */
  static JavaForward create(ModelConfig cfg, SharedArray embedT, LlamaDecoder.Layer[] layers,
      SharedArray finalNorm, LlamaDecoder.Projection lmHead, double[] invFreq, LlamaDecoder.LayerNorms[] norms) {
    try {
      return (JavaForward) Class.forName(IMPLEMENTATION)
          .getDeclaredConstructor(ModelConfig.class, SharedArray.class, LlamaDecoder.Layer[].class,
              SharedArray.class, LlamaDecoder.Projection.class, double[].class, LlamaDecoder.LayerNorms[].class)
          .newInstance(cfg, embedT, layers, finalNorm, lmHead, invFreq, norms);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("the Vector API kernels failed to start: " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException | LinkageError e) {
      throw new IllegalStateException("the Vector API kernels cannot be created: " + e, e);
    }
  }
}
