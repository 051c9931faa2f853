package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * PyTorch and Java see one memory, for arrays up to 2 GB (one direct buffer) and over it
 * (PyTorch's memory, seen by Java through consecutive buffers).
 */
class SharedArrayTest {
  /** Floats of the large array: just over 2 GiB, rows of 1000 straddling every chunk boundary. */
  static final int ROWS = 536_871;
  static final int WIDTH = 1000;

  @Test
  void anArrayUpTo2GbIsOneBuffer() {
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray a = SharedArray.of(m, new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
      assertThat(a.chunks()).singleElement().satisfies(b -> assertThat(b.capacity()).isEqualTo(24));
      a.put(2, new float[] {9, 8, 7}, 1, 2);
      assertThat(a.array().toFloatArray()).containsExactly(1, 2, 8, 7, 5, 6);
      a.array().set(new NDIndex("1, 2"), 42f); // through PyTorch
      assertThat(a.chunks().get(0).getFloat(20)).isEqualTo(42f);
    }
  }

  @Test
  void aTransposedArrayIsWrittenInPlace() {
    int rows = 70;
    int cols = 131; // more than one 64-wide tile each way, with tails
    float[] w = new float[rows * cols];
    for (int i = 0; i < w.length; i++) {
      w[i] = i * 0.5f - 7;
    }
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray t = SharedArray.transposed(m, w, rows, cols);
      assertThat(t.array().getShape()).isEqualTo(new Shape(cols, rows));
      assertThat(t.array().toFloatArray()).containsExactly(LlamaDecoder.transpose(w, rows, cols));
    }
  }

  /**
   * Without a manager (a model whose steps all run in Java) an array is Java's alone: buffers of
   * {@link SharedArray#CHUNK_FLOATS} floats, zeroed; element reads, writes and a KV page copy
   * that straddle the boundary between two buffers. ~1 GiB of native memory, freed with the array.
   */
  @Test
  void anArrayWithoutPyTorchIsJavasBuffersAndCopiesAcrossTheirBoundary() {
    long size = SharedArray.CHUNK_FLOATS + 96;
    SharedArray a = SharedArray.zeros(null, new Shape(size / 32, 32));
    assertThat(a.array()).isNull();
    assertThat(a.chunks()).hasSize(2);
    assertThat(a.chunks().get(1).capacity()).isEqualTo(4 * 96);
    long from = SharedArray.CHUNK_FLOATS - 40; // 40 floats in the first buffer, 24 in the second
    float[] values = new float[64];
    for (int i = 0; i < values.length; i++) {
      values[i] = i + 0.5f;
    }
    a.put(from, values, 0, values.length);
    assertThat(a.get(from + 39)).isEqualTo(39.5f);
    assertThat(a.get(from + 40)).isEqualTo(40.5f);
    a.copyWithin(from, 64, 64); // from across the boundary to the first buffer
    long to = SharedArray.CHUNK_FLOATS - 20;
    a.copyWithin(64, to, 64); // and back, across it again
    for (int i = 0; i < 64; i++) {
      assertThat(a.get(64 + i)).isEqualTo(i + 0.5f);
      assertThat(a.get(to + i)).isEqualTo(i + 0.5f);
    }
    assertThat(a.get(to - 1)).isEqualTo(19.5f); // written by the put, before the copy's range
    assertThat(a.get(size - 1)).isZero();
  }

  /**
   * An array of 2^29 + 88 floats (2 GiB and 352 bytes): values written through Java read back
   * through PyTorch, single elements and sums over rows that straddle the buffers' boundaries, and
   * values written through PyTorch read back through the buffers. ~2 GiB of native memory for a
   * few seconds, freed when the manager closes.
   */
  @Test
  void anArrayOver2GbIsPyTorchsMemorySeenThroughConsecutiveBuffers() {
    long size = (long) ROWS * WIDTH;
    assertThat(4 * size).isGreaterThan(Integer.MAX_VALUE);
    try (NDManager m = NDManager.newBaseManager(DjlRuntime.device())) {
      SharedArray a = SharedArray.zeros(m, new Shape(ROWS, WIDTH));
      List<ByteBuffer> chunks = a.chunks();
      assertThat(chunks).extracting(ByteBuffer::capacity).containsExactly(1 << 30, 1 << 30, 4 * (int) (size - (1L << 29)));
      assertThat(chunks).allSatisfy(b -> assertThat(b.isDirect()).isTrue());

      // Rows around each boundary between buffers, and the last rows, through Java.
      int[] firstRows = {268_430, 536_865};
      int span = 6;
      for (int r0 : firstRows) {
        float[] values = new float[span * WIDTH];
        for (int i = 0; i < values.length; i++) {
          values[i] = value((long) r0 * WIDTH + i);
        }
        new WeightWrite(a, r0, r0 + span, 0, WIDTH, values).apply(m);
      }
      // A box of columns across the boundary row, row by row.
      int boundaryRow = (int) ((1L << 28) / WIDTH); // 268435: floats 268435000 to 268435999
      float[] box = new float[3 * 200];
      for (int i = 0; i < box.length; i++) {
        box[i] = -(i + 1) / 1000f;
      }
      new WeightWrite(a, boundaryRow - 1, boundaryRow + 2, 400, 600, box).apply(m);

      try (NDManager tmp = m.newSubManager()) {
        NDArray x = a.array();
        // Single elements: on both sides of the first boundary, in the last buffer, the last one.
        assertThat(x.get(tmp, new NDIndex(boundaryRow, 455)).getFloat()).isEqualTo(box[200 + 55]);
        assertThat(x.get(tmp, new NDIndex(boundaryRow, 456)).getFloat()).isEqualTo(box[200 + 56]);
        assertThat(x.get(tmp, new NDIndex(boundaryRow, 300)).getFloat()).isEqualTo(value((long) boundaryRow * WIDTH + 300));
        assertThat(x.get(tmp, new NDIndex(ROWS - 1, WIDTH - 1)).getFloat()).isEqualTo(value(size - 1));
        assertThat(x.get(tmp, new NDIndex(536_870, 911)).getFloat()).isEqualTo(value(536_870_911L));
        assertThat(x.get(tmp, new NDIndex(536_870, 912)).getFloat()).isEqualTo(value(536_870_912L)); // first of the last buffer
        // Sums over whole rows of each span, computed by PyTorch, against the values written.
        for (int r0 : firstRows) {
          double expected = 0;
          for (long i = (long) r0 * WIDTH; i < (long) (r0 + span) * WIDTH; i++) {
            expected += inBox(i, boundaryRow) ? box[boxIndex(i, boundaryRow)] : value(i);
          }
          float sum = x.get(tmp, new NDIndex("{}:{}", r0, r0 + span)).sum().getFloat();
          assertThat((double) sum).as("rows from %d", r0).isCloseTo(expected, within(1e-3));
          assertThat(expected).isNotZero();
        }
        // A matmul over the rows that straddle the second boundary (float 2^29).
        int r1 = ROWS - 4;
        NDArray ones = tmp.ones(new Shape(1, 4));
        float[] colSums = ones.matMul(x.get(tmp, new NDIndex("{}:{}", r1, r1 + 4))).toFloatArray();
        for (int c = 0; c < WIDTH; c += 97) {
          double expected = 0;
          for (int r = r1; r < r1 + 4; r++) {
            expected += value((long) r * WIDTH + c);
          }
          assertThat((double) colSums[c]).isCloseTo(expected, within(1e-5));
        }

        // The other way: written through PyTorch, read through the buffers.
        x.set(new NDIndex("{}, {}:{}", boundaryRow, 430, 460), tmp.arange(30f).add(1000f));
        x.set(new NDIndex("{}, {}", ROWS - 1, WIDTH - 1), -5f);
        for (int c = 430; c < 460; c++) {
          assertThat(read(chunks, (long) boundaryRow * WIDTH + c)).isEqualTo(1000f + c - 430);
        }
        assertThat(read(chunks, size - 1)).isEqualTo(-5f);
      }
    }
  }

  /** A value for float {@code i} of the large array, varying in every position and never 0. */
  static float value(long i) {
    return (float) ((i * 0x9E3779B97F4A7C15L >>> 44) % 1999) / 1000f - 1.0005f;
  }

  private static boolean inBox(long i, int boundaryRow) {
    long r = i / WIDTH;
    long c = i % WIDTH;
    return r >= boundaryRow - 1 && r < boundaryRow + 2 && c >= 400 && c < 600;
  }

  private static int boxIndex(long i, int boundaryRow) {
    return (int) ((i / WIDTH - (boundaryRow - 1)) * 200 + i % WIDTH - 400);
  }

  /** Float {@code i} of the array, through Java's buffers. */
  static float read(List<ByteBuffer> chunks, long i) {
    return chunks.get((int) (i / SharedArray.CHUNK_FLOATS)).getFloat(4 * (int) (i % SharedArray.CHUNK_FLOATS));
  }
}
