package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * An fp32 array in a direct buffer that PyTorch uses without a copy (DJL wraps a direct buffer
 * with {@code from_blob}), so Java kernels and PyTorch read and write the same bytes. The buffer
 * is freed with its last reference, after the array's manager is closed.
 *
 * @param data the bytes in native order, or null when the array is too large for one direct
 *     buffer (over 2 GB) or not on the CPU: then PyTorch owns a copy and only PyTorch may use it
 */
record SharedArray(NDArray array, ByteBuffer data) {

  /** A zero-filled array of {@code shape}. */
  static SharedArray zeros(NDManager m, Shape shape) {
    long bytes = 4L * shape.size();
    if (!shareable(m, bytes)) {
      return new SharedArray(m.zeros(shape), null);
    }
    ByteBuffer buf = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder()); // zeroed
    return new SharedArray(m.create(buf, shape, DataType.FLOAT32), buf);
  }

  /** An array holding a copy of {@code values}. */
  static SharedArray of(NDManager m, float[] values, Shape shape) {
    long bytes = 4L * values.length;
    if (!shareable(m, bytes)) {
      return new SharedArray(m.create(values, shape), null);
    }
    ByteBuffer buf = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    buf.asFloatBuffer().put(values);
    return new SharedArray(m.create(buf, shape, DataType.FLOAT32), buf);
  }

  static SharedArray of(NDManager m, float[] values) {
    return of(m, values, new Shape(values.length));
  }

  private static boolean shareable(NDManager m, long bytes) {
    return bytes > 0 && bytes <= Integer.MAX_VALUE && Device.Type.CPU.equals(m.getDevice().getDeviceType());
  }
}
