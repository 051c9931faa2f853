package org.treeroll.engine.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.treeroll.tree.AtomicFile;

/** Writes safetensors files atomically (see {@link AtomicFile}), large tensors in chunks. */
public final class SafetensorsWriter {
  private static final int CHUNK_ELEMENTS = 1 << 20;

  private SafetensorsWriter() {}

  public static void write(Path file, List<NamedTensor> tensors, DType dtype, Map<String, String> metadata) {
    Map<String, long[]> shapes = new LinkedHashMap<>();
    Map<String, float[]> values = new HashMap<>();
    for (NamedTensor t : tensors) {
      shapes.put(t.name(), t.shape());
      values.put(t.name(), t.data());
    }
    write(file, shapes, values::get, dtype, metadata);
  }

  /**
   * Writes tensors in the order of {@code shapes}, asking {@code values} for each one's values
   * only when its turn comes, so that one tensor at a time is in memory: how checkpoints larger
   * than the heap are generated.
   */
  public static void write(Path file, Map<String, long[]> shapes, Function<String, float[]> values, DType dtype,
      Map<String, String> metadata) {
    ObjectMapper json = new ObjectMapper();
    ObjectNode header = json.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (Map.Entry<String, long[]> t : shapes.entrySet()) {
      long bytes = NamedTensor.elementCount(t.getValue()) * dtype.bytes();
      ObjectNode e = header.putObject(t.getKey());
      e.put("dtype", dtype.name());
      var shape = e.putArray("shape");
      for (long d : t.getValue()) {
        shape.add(d);
      }
      e.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    byte[] headerBytes = header.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (headerBytes.length + 7) / 8 * 8; // data starts 8-byte aligned
    AtomicFile.write(file, tmp -> {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(headerBytes);
        while (head.hasRemaining()) {
          head.put((byte) ' ');
        }
        writeFully(ch, head.flip());
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK_ELEMENTS * dtype.bytes());
        for (Map.Entry<String, long[]> t : shapes.entrySet()) {
          float[] data = values.apply(t.getKey());
          if (data.length != NamedTensor.elementCount(t.getValue())) {
            throw new IllegalArgumentException("tensor '" + t.getKey() + "': " + data.length
                + " values for shape " + java.util.Arrays.toString(t.getValue()));
          }
          for (int i = 0; i < data.length; i += CHUNK_ELEMENTS) {
            chunk.clear();
            dtype.encode(data, i, Math.min(CHUNK_ELEMENTS, data.length - i), chunk);
            writeFully(ch, chunk.flip());
          }
        }
        ch.force(true);
      }
    });
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      ch.write(buf);
    }
  }
}
