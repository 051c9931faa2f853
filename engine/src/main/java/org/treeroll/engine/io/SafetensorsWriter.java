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
import java.util.List;
import java.util.Map;
import org.treeroll.tree.AtomicFile;

/** Writes safetensors files atomically (see {@link AtomicFile}), large tensors in chunks. */
public final class SafetensorsWriter {
  private static final int CHUNK_ELEMENTS = 1 << 20;

  private SafetensorsWriter() {}

  public static void write(Path file, List<NamedTensor> tensors, DType dtype, Map<String, String> metadata) {
    ObjectMapper json = new ObjectMapper();
    ObjectNode header = json.createObjectNode();
    if (!metadata.isEmpty()) {
      ObjectNode meta = header.putObject("__metadata__");
      metadata.forEach(meta::put);
    }
    long offset = 0;
    for (NamedTensor t : tensors) {
      long bytes = (long) t.data().length * dtype.bytes();
      ObjectNode e = header.putObject(t.name());
      e.put("dtype", dtype.name());
      var shape = e.putArray("shape");
      for (long d : t.shape()) {
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
        for (NamedTensor t : tensors) {
          for (int i = 0; i < t.data().length; i += CHUNK_ELEMENTS) {
            chunk.clear();
            dtype.encode(t.data(), i, Math.min(CHUNK_ELEMENTS, t.data().length - i), chunk);
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
