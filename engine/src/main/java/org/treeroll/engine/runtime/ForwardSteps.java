package org.treeroll.engine.runtime;

import java.util.concurrent.atomic.LongAdder;

/**
 * Forward steps run on each path: by one model ({@link LlamaDecoder#forwardSteps()}) or by every
 * model of this JVM ({@link #inThisJvm()}). A job that expected the Java kernels can see here
 * whether its steps ran on them.
 *
 * @param javaVector steps run by the Java Vector API kernels
 * @param pytorch steps run by PyTorch
 */
public record ForwardSteps(long javaVector, long pytorch) {
  private static final LongAdder JVM_JAVA_VECTOR = new LongAdder();
  private static final LongAdder JVM_PYTORCH = new LongAdder();

  /** Steps of every model loaded in this JVM so far. */
  public static ForwardSteps inThisJvm() {
    return new ForwardSteps(JVM_JAVA_VECTOR.sum(), JVM_PYTORCH.sum());
  }

  public long total() {
    return javaVector + pytorch;
  }

  @Override
  public String toString() {
    return "java-vector " + javaVector + " steps, pytorch " + pytorch + " steps";
  }

  /** One model's counters, adding to the JVM's too. */
  static final class Counter {
    private final LongAdder javaVector = new LongAdder();
    private final LongAdder pytorch = new LongAdder();

    void javaVectorStep() {
      javaVector.increment();
      JVM_JAVA_VECTOR.increment();
    }

    void pytorchStep() {
      pytorch.increment();
      JVM_PYTORCH.increment();
    }

    ForwardSteps snapshot() {
      return new ForwardSteps(javaVector.sum(), pytorch.sum());
    }
  }
}
