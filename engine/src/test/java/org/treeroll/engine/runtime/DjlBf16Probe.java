package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Run by {@link DjlBf16Test} in a JVM of its own: makes one BF16 and one F16 tensor in PyTorch
 * through DJL, printing a line after each.
 */
public final class DjlBf16Probe {
  private DjlBf16Probe() {}

  public static void main(String[] args) {
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray f16 = m.ones(new Shape(2, 2)).toType(DataType.FLOAT16, false);
      System.out.println("F16 tensor made: " + f16.getDataType());
      System.out.flush();
      ByteBuffer bits = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
      NDArray bf16 = m.create(bits, new Shape(2, 2), DataType.BFLOAT16);
      System.out.println("BF16 tensor made: " + bf16.getDataType());
    }
  }
}
