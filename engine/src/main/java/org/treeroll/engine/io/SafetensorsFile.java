package org.treeroll.engine.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ShortBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.treeroll.tree.TreeRollException;

/**
 * A safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's
 * dtype, shape and byte range, then the data. The whole header is checked when the file opens
 * (offsets that disagree with shapes, overlapping or out-of-file ranges, unknown dtypes), so a
 * broken file fails with the file and tensor named before any weight is used.
 */
public final class SafetensorsFile implements AutoCloseable {
  /** A header larger than this is not a header: refuse before allocating it. */
  private static final long MAX_HEADER_BYTES = 100L << 20;
  /** Bytes per read into a heap buffer: the JDK's per-thread temporary direct buffer stays this size (16 MB stayed resident). */
  private static final int READ_SLICE = 1 << 20;

  /** One tensor's entry; {@code begin} and {@code end} are absolute file offsets. */
  public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {}

  private final Path path;
  private final FileChannel channel;
  private final Map<String, TensorInfo> tensors;
  private final Map<String, String> metadata;

  private SafetensorsFile(Path path, FileChannel channel, Map<String, TensorInfo> tensors,
      Map<String, String> metadata) {
    this.path = path;
    this.channel = channel;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  public static SafetensorsFile open(Path path) {
    FileChannel ch;
    try {
      ch = FileChannel.open(path, StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      throw new TreeRollException(path + ": file not found");
    } catch (IOException e) {
      throw new TreeRollException(path + ": cannot open: " + e.getMessage(), e);
    }
    try {
      return parse(path, ch);
    } catch (RuntimeException | IOException e) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // the parse error is the one worth reporting
      }
      if (e instanceof TreeRollException t) {
        throw t;
      }
      throw new TreeRollException(path + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static SafetensorsFile parse(Path path, FileChannel ch) throws IOException {
    long size = ch.size();
    if (size < 8) {
      throw new TreeRollException(path + ": " + size + " bytes is too short for a safetensors file");
    }
    ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(ch, lenBuf, 0);
    long headerLen = lenBuf.getLong(0);
    if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
      throw new TreeRollException(path + ": header length " + headerLen + " is invalid for a file of "
          + size + " bytes (truncated or not safetensors)");
    }
    ByteBuffer header = ByteBuffer.allocate((int) headerLen);
    readFully(ch, header, 8);
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(header.array());
    } catch (IOException e) {
      throw new TreeRollException(path + ": header is not valid JSON");
    }
    if (root == null || !root.isObject()) {
      throw new TreeRollException(path + ": header is not a JSON object");
    }
    long dataStart = 8 + headerLen;
    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    var fields = root.fields();
    while (fields.hasNext()) {
      var e = fields.next();
      if (e.getKey().equals("__metadata__")) {
        e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
        continue;
      }
      tensors.put(e.getKey(), entry(path, e.getKey(), e.getValue(), dataStart, size));
    }
    checkNoOverlap(path, tensors);
    return new SafetensorsFile(path, ch, Collections.unmodifiableMap(tensors),
        Collections.unmodifiableMap(metadata));
  }

  private static TensorInfo entry(Path path, String name, JsonNode e, long dataStart, long fileSize) {
    String where = path + ": tensor '" + name + "'";
    JsonNode dt = e.get("dtype");
    JsonNode sh = e.get("shape");
    JsonNode off = e.get("data_offsets");
    if (dt == null || sh == null || off == null || !sh.isArray() || !off.isArray() || off.size() != 2) {
      throw new TreeRollException(where + ": entry needs dtype, shape and data_offsets [begin, end]");
    }
    DType dtype = DType.fromHeader(dt.asText());
    if (dtype == null) {
      throw new TreeRollException(where + " has dtype " + dt.asText() + "; only F32, F16, BF16 are supported");
    }
    long[] shape = new long[sh.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = sh.get(i).asLong(-1);
      if (!sh.get(i).isIntegralNumber() || shape[i] < 0) {
        throw new TreeRollException(where + ": shape " + sh + " has an invalid dimension");
      }
    }
    long begin = off.get(0).asLong(-1);
    long end = off.get(1).asLong(-1);
    if (begin < 0 || end < begin) {
      throw new TreeRollException(where + ": data_offsets [" + begin + ", " + end + "] are invalid");
    }
    long needed = NamedTensor.elementCount(shape) * dtype.bytes();
    if (end - begin != needed) {
      throw new TreeRollException(where + ": data_offsets [" + begin + ", " + end + "] span "
          + (end - begin) + " bytes but shape " + Arrays.toString(shape) + " " + dtype + " needs " + needed);
    }
    if (dataStart + end > fileSize) {
      throw new TreeRollException(where + ": data ends at byte " + (dataStart + end)
          + " but the file has " + fileSize + " (truncated file)");
    }
    return new TensorInfo(name, dtype, shape, dataStart + begin, dataStart + end);
  }

  private static void checkNoOverlap(Path path, Map<String, TensorInfo> tensors) {
    List<TensorInfo> sorted = new ArrayList<>(tensors.values());
    sorted.sort(Comparator.comparingLong(TensorInfo::begin));
    for (int i = 1; i < sorted.size(); i++) {
      TensorInfo prev = sorted.get(i - 1);
      TensorInfo cur = sorted.get(i);
      if (cur.begin() < prev.end() && cur.end() > cur.begin()) {
        throw new TreeRollException(path + ": tensors '" + prev.name() + "' and '" + cur.name()
            + "' overlap in the file");
      }
    }
  }

  public Path path() {
    return path;
  }

  public Map<String, TensorInfo> tensors() {
    return tensors;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  /** Reads a tensor and converts it to fp32. */
  public float[] readFloats(String name) {
    TensorInfo t = tensors.get(name);
    if (t == null) {
      throw new TreeRollException(path + ": tensor '" + name + "' not found");
    }
    long count = NamedTensor.elementCount(t.shape());
    if (count > Integer.MAX_VALUE - 8 || t.end() - t.begin() > Integer.MAX_VALUE) {
      throw new TreeRollException(path + ": tensor '" + name + "' has " + count
          + " elements, more than one array holds");
    }
    float[] out = new float[(int) count];
    try {
      ByteBuffer data = channel.map(FileChannel.MapMode.READ_ONLY, t.begin(), t.end() - t.begin());
      t.dtype().decode(data, out, 0, out.length);
    } catch (IOException e) {
      throw new TreeRollException(path + ": tensor '" + name + "': cannot read: " + e.getMessage(), e);
    }
    return out;
  }

  /**
   * The bits of a BF16 or F16 tensor as stored, row-major. Read into the heap rather than mapped:
   * a mapping keeps the file's pages in the process's resident memory until a collection unmaps
   * it, which after a load doubled the resident size; garbage on the heap goes back with a GC.
   */
  public ShortBuffer readBits(String name) {
    TensorInfo t = tensors.get(name);
    if (t == null) {
      throw new TreeRollException(path + ": tensor '" + name + "' not found");
    }
    if (t.dtype().bytes() != 2) {
      throw new IllegalArgumentException(path + ": tensor '" + name + "' is " + t.dtype() + ", not 16-bit");
    }
    if (t.end() - t.begin() > Integer.MAX_VALUE) {
      throw new TreeRollException(path + ": tensor '" + name + "' has " + (t.end() - t.begin())
          + " bytes, more than one buffer holds");
    }
    try {
      ByteBuffer bytes = ByteBuffer.allocate((int) (t.end() - t.begin()));
      // In slices: a read into a heap buffer goes through a temporary direct buffer of the read's
      // size, which the JDK keeps cached per thread; one of the whole embedding stayed resident.
      for (int at = 0; at < bytes.capacity(); at = bytes.limit()) {
        bytes.limit(Math.min(bytes.capacity(), at + READ_SLICE));
        readFully(channel, bytes, t.begin());
      }
      return bytes.flip().order(java.nio.ByteOrder.LITTLE_ENDIAN).asShortBuffer();
    } catch (IOException e) {
      throw new TreeRollException(path + ": tensor '" + name + "': cannot read: " + e.getMessage(), e);
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, position + buf.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new TreeRollException(path + ": cannot close: " + e.getMessage(), e);
    }
  }
}
