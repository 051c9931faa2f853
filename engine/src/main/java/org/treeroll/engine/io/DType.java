package org.treeroll.engine.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The safetensors element types TreeRoll reads and writes. Compute is fp32; 16-bit weights may be
 * kept as stored and widened to fp32 in the kernels' registers.
 */
public enum DType {
  F32(4),
  F16(2),
  BF16(2);

  private final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }

  public int bytes() {
    return bytes;
  }

  /** The type named {@code name} in a safetensors header, or null if TreeRoll can't read it. */
  static DType fromHeader(String name) {
    for (DType t : values()) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    return null;
  }

  /** Decodes {@code out.length - offset} elements from little-endian {@code in} into fp32. */
  void decode(ByteBuffer in, float[] out, int offset, int count) {
    in.order(ByteOrder.LITTLE_ENDIAN);
    switch (this) {
      case F32 -> in.asFloatBuffer().get(out, offset, count);
      case F16 -> {
        for (int i = 0; i < count; i++) {
          out[offset + i] = Float.float16ToFloat(in.getShort(in.position() + 2 * i));
        }
      }
      case BF16 -> {
        for (int i = 0; i < count; i++) {
          out[offset + i] = Float.intBitsToFloat((in.getShort(in.position() + 2 * i) & 0xFFFF) << 16);
        }
      }
    }
  }

  /** Encodes {@code count} floats from {@code data[offset..]} into little-endian {@code out}. */
  void encode(float[] data, int offset, int count, ByteBuffer out) {
    out.order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < count; i++) {
      float v = data[offset + i];
      switch (this) {
        case F32 -> out.putFloat(v);
        case F16 -> out.putShort(Float.floatToFloat16(v));
        case BF16 -> out.putShort(toBf16(v));
      }
    }
  }

  /** One 16-bit element's bits as fp32 (exact); this type is BF16 or F16. */
  public float widen(short bits) {
    return this == F16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat(bits << 16);
  }

  /** {@code v} rounded to this 16-bit type's bits, to nearest, ties to even. */
  public short narrow(float v) {
    return this == F16 ? Float.floatToFloat16(v) : toBf16(v);
  }

  /** Whether 16-bit {@code bits} of this type encode a NaN or an infinity. */
  public boolean nonFinite(short bits) {
    int exponent = this == F16 ? 0x7C00 : 0x7F80;
    return (bits & exponent) == exponent;
  }

  /** Round to nearest, ties to even; NaN stays a (quiet) NaN. */
  static short toBf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      return (short) ((bits >>> 16) | 0x0040);
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7FFF + lsb) >>> 16);
  }
}
