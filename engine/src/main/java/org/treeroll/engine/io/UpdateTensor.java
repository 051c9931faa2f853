package org.treeroll.engine.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.treeroll.tree.TreeRollException;

/**
 * One tensor of a {@link WeightUpdate} as a trainer hands it over: its HF name, element type,
 * shape and raw little-endian bytes in row-major order. The bytes are copied in, so the caller
 * may reuse its buffer; {@link #data()} and {@link #shape()} hand out read-only views and copies.
 */
public record UpdateTensor(String name, DType dtype, long[] shape, ByteBuffer data) {
  public UpdateTensor {
    if (name == null || name.isBlank()) {
      throw new TreeRollException("weight update: a tensor has no name");
    }
    if (dtype == null) {
      throw new TreeRollException("weight update: tensor '" + name + "' has no dtype; use F32, BF16 or F16");
    }
    if (shape == null || data == null) {
      throw new TreeRollException("weight update: tensor '" + name + "' needs a shape and its bytes");
    }
    for (long d : shape) {
      if (d < 0) {
        throw new TreeRollException("weight update: tensor '" + name + "' has shape "
            + Arrays.toString(shape) + " with a negative dimension");
      }
    }
    long needed = NamedTensor.elementCount(shape) * dtype.bytes();
    if (data.remaining() != needed) {
      throw new TreeRollException("weight update: tensor '" + name + "': shape " + Arrays.toString(shape)
          + " " + dtype + " needs " + needed + " bytes, got " + data.remaining());
    }
    ByteBuffer copy = ByteBuffer.allocate(data.remaining());
    copy.put(data.duplicate()).flip();
    data = copy.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    shape = shape.clone();
  }

  /** An F32 tensor holding {@code values} (row-major). */
  public static UpdateTensor f32(String name, long[] shape, float[] values) {
    return encode(name, DType.F32, shape, values);
  }

  /** A tensor of {@code dtype} holding {@code values} rounded to it (BF16: to nearest even). */
  public static UpdateTensor encode(String name, DType dtype, long[] shape, float[] values) {
    ByteBuffer bytes = ByteBuffer.allocate(values.length * dtype.bytes());
    dtype.encode(values, 0, values.length, bytes);
    return new UpdateTensor(name, dtype, shape, bytes.flip());
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  /** The bytes, little-endian, as a read-only view positioned at the first. */
  @Override
  public ByteBuffer data() {
    return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
  }
}
