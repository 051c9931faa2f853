package org.treeroll.engine.io;

import java.util.Arrays;
import org.treeroll.tree.TreeRollException;

/** A tensor in host memory: its name, shape and fp32 values in row-major order. */
public record NamedTensor(String name, long[] shape, float[] data) {
  public NamedTensor {
    long size = elementCount(shape);
    if (size != data.length) {
      throw new TreeRollException("tensor '" + name + "': shape " + Arrays.toString(shape) + " needs "
          + size + " values, got " + data.length);
    }
    shape = shape.clone();
  }

  static long elementCount(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }
}
