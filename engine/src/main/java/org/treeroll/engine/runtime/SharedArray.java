package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.List;
import org.treeroll.engine.io.DType;
import org.treeroll.tree.TreeRollException;

/**
 * A weight or KV array whose memory PyTorch and the Java kernels both use, so they read and write
 * the same bytes. An fp32 array has both views, unless it is made without a manager (a model
 * whose steps all run in Java never starts PyTorch): then only Java's, in buffers of at most
 * {@link #CHUNK_FLOATS} floats. A 16-bit one (BF16 or F16 weights kept as
 * the checkpoint stores them) has only the Java view: PyTorch's CPU kernels never see it
 * ({@code array} is null), so it is at most one direct buffer of 2 GB. Up to 2 GB it lives in one direct buffer that PyTorch wraps without a copy (DJL
 * wraps a direct buffer with {@code from_blob}); that buffer is freed with its last reference,
 * after the array's manager is closed. No buffer holds more, so a larger array is allocated by
 * PyTorch and Java sees it through direct buffers over consecutive slices of it: those point into
 * PyTorch's memory, which is freed when the array's manager closes, so they must not be used after.
 *
 * @param chunks the array's floats in native byte order, row-major: one buffer up to 2 GB, else
 *     consecutive buffers of {@link #CHUNK_FLOATS} floats (the last one shorter); null where the
 *     array is not on the CPU: then only PyTorch may use it
 * @param tileColumns 0, or for a 16-bit matrix {@code [rows, cols]} that the Java kernels read in
 *     tiles: the columns per tile. A tile is 8 rows by {@code tileColumns} columns stored row after
 *     row; tiles follow each other along the columns, then the next 8 rows. Element indices given
 *     to {@link #get}, {@link #put} and {@link #putBits} are row-major whatever the layout.
 */
record SharedArray(NDArray array, List<ByteBuffer> chunks, DType type, Shape shape, int tileColumns) {
  SharedArray(NDArray array, List<ByteBuffer> chunks) {
    this(array, chunks, DType.F32, array.getShape());
  }

  SharedArray(NDArray array, List<ByteBuffer> chunks, DType type, Shape shape) {
    this(array, chunks, type, shape, 0);
  }

  /** Floats per buffer of an array over 2 GB: 1 GiB, the largest power of two a buffer holds. */
  static final long CHUNK_FLOATS = 1L << 28;

  /** A zero-filled array of {@code shape}; Java's alone if {@code m} is null. */
  static SharedArray zeros(NDManager m, Shape shape) {
    long bytes = 4L * shape.size();
    if (m == null) {
      return javaOnly(shape); // direct buffers are zeroed
    }
    if (!onCpu(m) || bytes == 0) {
      return new SharedArray(m.zeros(shape), null);
    }
    if (bytes > Integer.MAX_VALUE) {
      return mapped(m, m.zeros(shape));
    }
    ByteBuffer buf = LargeBuffers.allocate((int) bytes); // zeroed
    return new SharedArray(m.create(buf, shape, DataType.FLOAT32), List.of(buf));
  }

  /** An array holding a copy of {@code values}; Java's alone if {@code m} is null. */
  static SharedArray of(NDManager m, float[] values, Shape shape) {
    if (values.length != shape.size()) {
      throw new IllegalArgumentException(values.length + " values for an array of shape " + shape);
    }
    SharedArray a = empty(m, shape);
    if (a == null) {
      return new SharedArray(m.create(values, shape), null);
    }
    a.put(0, values, 0, values.length);
    return a;
  }

  static SharedArray of(NDManager m, float[] values) {
    return of(m, values, new Shape(values.length));
  }

  /**
   * The transpose {@code [cols, rows]} of the row-major matrix {@code w [rows, cols]}, written
   * straight into the array's memory: no transposed copy on the heap, which for an embedding of a
   * 7B model is another 2 GB.
   */
  static SharedArray transposed(NDManager m, float[] w, int rows, int cols) {
    Shape shape = new Shape(cols, rows);
    if ((long) rows * cols != w.length) {
      throw new IllegalArgumentException(w.length + " values for a matrix of " + rows + " x " + cols);
    }
    SharedArray a = empty(m, shape);
    if (a == null) {
      return new SharedArray(m.create(LlamaDecoder.transpose(w, rows, cols), shape), null);
    }
    // Tiles of 1024 rows of w by 64 columns (256 KB, in L2): each column of a tile is one run of
    // 1024 floats of the result. On an 8M x 64 embedding that took 1.6 s here, tiles of 64 x 64
    // 5.5 s; on Qwen2.5-7B's (152064 x 3584) 2.6 s, where transposing on the heap took 6.9 s.
    final int runRows = 1024;
    final int tileCols = 64;
    float[] run = new float[runRows];
    for (int r0 = 0; r0 < rows; r0 += runRows) {
      int n = Math.min(runRows, rows - r0);
      for (int c0 = 0; c0 < cols; c0 += tileCols) {
        int cEnd = Math.min(c0 + tileCols, cols);
        for (int c = c0; c < cEnd; c++) {
          for (int i = 0, at = r0 * cols + c; i < n; i++, at += cols) {
            run[i] = w[at];
          }
          a.put((long) c * rows + r0, run, 0, n);
        }
      }
    }
    return a;
  }

  /**
   * The transpose {@code [cols, rows]} of the row-major 16-bit matrix {@code w [rows, cols]}, kept
   * in {@code type} (the bits are copied, never rounded), in tiles of {@code tileColumns} if not 0.
   */
  static SharedArray transposedHalf(DType type, ShortBuffer w, int rows, int cols, int tileColumns) {
    SharedArray a = half(type, new Shape(cols, rows), tileColumns);
    a.putTransposed(w, rows, cols, 0);
    return a;
  }

  /**
   * Writes the transpose of the row-major 16-bit {@code w [rows, cols]} into this {@code [cols,
   * width]} 16-bit array at columns {@code [col, col + rows)}, in tiles of 64 rows of {@code w} so
   * each pass reads 64 nearby source rows and writes runs of 64 elements.
   */
  void putTransposed(ShortBuffer w, int rows, int cols, int col) {
    ShortBuffer out = chunks.get(0).asShortBuffer();
    int width = (int) shape.get(1);
    for (int r0 = 0; r0 < rows; r0 += 64) {
      int end = Math.min(rows, r0 + 64);
      for (int c = 0; c < cols; c++) {
        for (int r = r0; r < end; r++) {
          out.put((int) index(c, col + r), w.get(r * cols + c));
        }
      }
    }
  }

  /** A zero-filled 16-bit array of {@code shape}, seen by Java only, row-major. */
  static SharedArray half(DType type, Shape shape) {
    return half(type, shape, 0);
  }

  /**
   * A zero-filled 16-bit array of {@code shape}, seen by Java only, in tiles of {@code tileColumns}
   * columns if not 0 (the shape then holds whole tiles).
   */
  static SharedArray half(DType type, Shape shape, int tileColumns) {
    if (tileColumns != 0 && (shape.get(0) % 8 != 0 || shape.get(1) % tileColumns != 0)) {
      throw new IllegalArgumentException("a " + shape + " matrix is not whole tiles of 8 x " + tileColumns);
    }
    long bytes = (long) type.bytes() * shape.size();
    if (type == DType.F32 || bytes > Integer.MAX_VALUE) {
      throw new TreeRollException("a " + type + " weight array " + shape + " of " + bytes
          + " bytes: 16-bit arrays are kept in one buffer of at most 2 GiB; load the model in fp32");
    }
    ByteBuffer buf = LargeBuffers.allocate((int) bytes);
    return new SharedArray(null, List.of(buf), type, shape, tileColumns);
  }

  /** Where element {@code (row, col)} of a 2-D 16-bit array is stored, in elements. */
  long index(int row, int col) {
    long cols = shape.get(1);
    if (tileColumns == 0) {
      return row * cols + col;
    }
    long tile = (row / 8) * (cols / tileColumns) + col / tileColumns;
    return tile * 8 * tileColumns + (row % 8) * tileColumns + col % tileColumns;
  }

  /** Where the element with row-major index {@code i} is stored. */
  private long storedAt(long i) {
    if (tileColumns == 0) {
      return i;
    }
    long cols = shape.get(1);
    return index((int) (i / cols), (int) (i % cols));
  }

  /** Element {@code i} (row-major) as fp32, through Java's view. */
  float get(long i) {
    if (type != DType.F32) {
      return type.widen(chunks.get(0).getShort(2 * (int) storedAt(i)));
    }
    long per = chunks.get(0).capacity() / 4;
    return chunks.get((int) (i / per)).getFloat(4 * (int) (i % per));
  }

  /** An array of {@code shape} whose values are yet to be written, or null if Java cannot see it. */
  private static SharedArray empty(NDManager m, Shape shape) {
    long bytes = 4L * shape.size();
    if (m == null) {
      return javaOnly(shape);
    }
    if (!onCpu(m) || bytes == 0) {
      return null;
    }
    if (bytes > Integer.MAX_VALUE) {
      return mapped(m, m.create(shape, DataType.FLOAT32)); // uninitialised: every value is written next
    }
    ByteBuffer buf = LargeBuffers.allocate((int) bytes);
    return new SharedArray(m.create(buf, shape, DataType.FLOAT32), List.of(buf));
  }

  /** An fp32 array that only Java sees: consecutive zeroed buffers of {@link #CHUNK_FLOATS} floats, the last shorter. */
  private static SharedArray javaOnly(Shape shape) {
    List<ByteBuffer> chunks = new ArrayList<>();
    for (long from = 0; from < shape.size() || chunks.isEmpty(); from += CHUNK_FLOATS) {
      int floats = (int) Math.min(CHUNK_FLOATS, shape.size() - from);
      chunks.add(LargeBuffers.allocate(4 * floats));
    }
    return new SharedArray(null, List.copyOf(chunks), DType.F32, shape);
  }

  /**
   * Copies elements {@code [from, from + count)} to {@code [to, to + count)} (row-major; ranges
   * apart) through Java's view; for arrays without tiles.
   */
  void copyWithin(long from, long to, long count) {
    int size = type.bytes();
    long per = chunks.get(0).capacity() / size;
    while (count > 0) {
      ByteBuffer src = chunks.get((int) (from / per));
      ByteBuffer dst = chunks.get((int) (to / per));
      int n = (int) Math.min(count, Math.min(per - from % per, per - to % per));
      dst.put((int) (to % per) * size, src, (int) (from % per) * size, n * size);
      from += n;
      to += n;
      count -= n;
    }
  }

  /** Whether the Java kernels can read and write the array (see {@link #chunks}). */
  boolean visibleToJava() {
    return chunks != null;
  }

  /**
   * Copies {@code values[from, from + len)} to the array's elements {@code [at, at + len)} (row-major)
   * through Java's view of its memory, which PyTorch reads. A 16-bit array rounds each value to
   * its type (to nearest, ties to even): exact for values that came from that type.
   */
  void put(long at, float[] values, int from, int len) {
    if (type != DType.F32) {
      ByteBuffer buf = chunks.get(0);
      for (int i = 0; i < len; i++) {
        buf.putShort(2 * (int) storedAt(at + i), type.narrow(values[from + i]));
      }
      return;
    }
    long per = chunks.get(0).capacity() / 4;
    while (len > 0) {
      ByteBuffer chunk = chunks.get((int) (at / per));
      int offset = (int) (at % per);
      int n = Math.min(len, chunk.capacity() / 4 - offset);
      chunk.asFloatBuffer().put(offset, values, from, n);
      at += n;
      from += n;
      len -= n;
    }
  }

  /** Copies {@code bits[from, from + len)} to this 16-bit array's elements {@code [at, at + len)}, as they are. */
  void putBits(long at, short[] bits, int from, int len) {
    ShortBuffer out = chunks.get(0).asShortBuffer();
    if (tileColumns == 0) {
      out.put((int) at, bits, from, len);
      return;
    }
    for (int i = 0; i < len; i++) {
      out.put((int) storedAt(at + i), bits[from + i]);
    }
  }

  /**
   * Java's view of an array PyTorch allocated (contiguous): direct buffers over consecutive slices
   * of its flattened form. DJL's {@code toByteBuffer(true)} on a contiguous CPU tensor returns a
   * buffer over the tensor's own memory ({@code NewDirectByteBuffer} on its data pointer), and a
   * slice of the first axis of a contiguous tensor is a contiguous view; neither is documented, so
   * each buffer is checked to be the array's memory at its place ({@link #aliases}).
   *
   * @throws IllegalStateException if one is not (a DJL that copies), naming the array
   */
  private static SharedArray mapped(NDManager m, NDArray array) {
    long size = array.size();
    List<ByteBuffer> chunks = new ArrayList<>();
    try (NDManager views = m.newSubManager()) {
      NDArray flat = array.reshape(size);
      flat.attach(views);
      for (long from = 0; from < size; from += CHUNK_FLOATS) {
        long to = Math.min(size, from + CHUNK_FLOATS);
        NDArray slice = flat.get(views, new NDIndex("{}:{}", from, to));
        chunks.add(slice.toByteBuffer(true).order(ByteOrder.nativeOrder()));
      }
    }
    if (!aliases(m, array, chunks)) {
      String what = "an array " + array.getShape() + " of " + 4 * size + " bytes";
      array.close();
      throw new IllegalStateException(what + ", over the 2 GiB one direct buffer holds, cannot be shared between"
          + " PyTorch and Java: DJL's toByteBuffer(true) on a slice of it returned a copy, not a view of its memory");
    }
    return new SharedArray(array, List.copyOf(chunks));
  }

  /**
   * Whether each chunk is the array's memory at its place: a value written at the first and the
   * last float of each through the buffer reads back through PyTorch at that element. The array
   * being contiguous, that makes the chunks consecutive in memory. The old values are restored.
   */
  private static boolean aliases(NDManager m, NDArray array, List<ByteBuffer> chunks) {
    long[] dims = array.getShape().getShape();
    boolean all = true;
    try (NDManager probe = m.newSubManager()) {
      for (int c = 0; c < chunks.size() && all; c++) {
        ByteBuffer chunk = chunks.get(c);
        if (!chunk.isDirect() || chunk.capacity() % 4 != 0) {
          return false;
        }
        for (int end = 0; end < 2 && all; end++) {
          int offset = end == 0 ? 0 : chunk.capacity() - 4;
          float old = chunk.getFloat(offset);
          float marker = c + (end == 0 ? 0.25f : 0.75f);
          chunk.putFloat(offset, marker);
          long element = c * CHUNK_FLOATS + offset / 4;
          all = array.get(probe, new NDIndex(position(dims, element))).toFloatArray()[0] == marker;
          chunk.putFloat(offset, old);
        }
      }
    }
    return all;
  }

  /** Row-major flat index {@code i} as an index per axis. */
  private static long[] position(long[] dims, long i) {
    long[] at = new long[dims.length];
    for (int k = dims.length - 1; k >= 0; k--) {
      at[k] = i % dims[k];
      i /= dims[k];
    }
    return at;
  }

  private static boolean onCpu(NDManager m) {
    return Device.Type.CPU.equals(m.getDevice().getDeviceType());
  }
}
