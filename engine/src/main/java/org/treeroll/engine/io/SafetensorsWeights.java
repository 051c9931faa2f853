package org.treeroll.engine.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ShortBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.treeroll.tree.TreeRollException;

/**
 * The weights of a HF model directory: {@code model.safetensors}, or the shards that
 * {@code model.safetensors.index.json} maps each tensor to. Every shard is opened (and its header
 * checked) up front.
 */
final class SafetensorsWeights implements WeightSource {
  static final String SINGLE = "model.safetensors";
  static final String INDEX = "model.safetensors.index.json";

  private final Path origin; // the file errors about a missing tensor name
  private final Map<String, SafetensorsFile> byTensor;
  private final Map<Path, SafetensorsFile> files;

  private SafetensorsWeights(Path origin, Map<String, SafetensorsFile> byTensor, Map<Path, SafetensorsFile> files) {
    this.origin = origin;
    this.byTensor = byTensor;
    this.files = files;
  }

  static SafetensorsWeights open(Path dir) {
    Path single = dir.resolve(SINGLE);
    Path index = dir.resolve(INDEX);
    Map<Path, SafetensorsFile> files = new LinkedHashMap<>();
    Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
    try {
      if (Files.isRegularFile(single)) {
        SafetensorsFile f = SafetensorsFile.open(single);
        files.put(single, f);
        f.tensors().keySet().forEach(n -> byTensor.put(n, f));
        return new SafetensorsWeights(single, byTensor, files);
      }
      if (!Files.isRegularFile(index)) {
        throw new TreeRollException(dir + ": no " + SINGLE + " or " + INDEX);
      }
      JsonNode map = readIndex(index).path("weight_map");
      if (!map.isObject() || map.isEmpty()) {
        throw new TreeRollException(index + ": field 'weight_map' is missing or empty");
      }
      var it = map.fields();
      while (it.hasNext()) {
        var e = it.next();
        Path shard = dir.resolve(e.getValue().asText()).normalize();
        if (!shard.startsWith(dir.normalize()) || !Files.isRegularFile(shard)) {
          throw new TreeRollException(index + ": tensor '" + e.getKey() + "' maps to shard '"
              + e.getValue().asText() + "', which does not exist");
        }
        SafetensorsFile f = files.computeIfAbsent(shard, SafetensorsFile::open);
        if (!f.tensors().containsKey(e.getKey())) {
          throw new TreeRollException(index + ": tensor '" + e.getKey() + "' is mapped to " + shard
              + ", which does not contain it");
        }
        byTensor.put(e.getKey(), f);
      }
      return new SafetensorsWeights(index, byTensor, files);
    } catch (RuntimeException e) {
      files.values().forEach(SafetensorsFile::close);
      throw e;
    }
  }

  private static JsonNode readIndex(Path index) {
    try {
      return new ObjectMapper().readTree(index.toFile());
    } catch (IOException e) {
      throw new TreeRollException(index + ": not valid JSON: " + e.getMessage(), e);
    }
  }

  /** The open file holding {@code name}, or null if no file does. */
  SafetensorsFile fileOf(String name) {
    return byTensor.get(name);
  }

  @Override
  public Set<String> names() {
    return Collections.unmodifiableSet(byTensor.keySet());
  }

  @Override
  public DType dtype(String name) {
    return file(name).tensors().get(name).dtype();
  }

  @Override
  public ShortBuffer readBits(String name, long... expectedShape) {
    SafetensorsFile f = checked(name, expectedShape);
    DType type = f.tensors().get(name).dtype();
    ShortBuffer bits = f.readBits(name);
    for (int i = 0, n = bits.limit(); i < n; i++) {
      if (type.nonFinite(bits.get(i))) {
        throw new TreeRollException(f.path() + ": tensor '" + name + "' holds " + type.widen(bits.get(i))
            + " at element " + i + "; refusing non-finite weights");
      }
    }
    return bits;
  }

  private SafetensorsFile file(String name) {
    SafetensorsFile f = byTensor.get(name);
    if (f == null) {
      throw new TreeRollException(origin + ": tensor '" + name + "' not found");
    }
    return f;
  }

  private SafetensorsFile checked(String name, long[] expectedShape) {
    SafetensorsFile f = file(name);
    long[] shape = f.tensors().get(name).shape();
    if (!Arrays.equals(shape, expectedShape)) {
      throw new TreeRollException(f.path() + ": tensor '" + name + "' has shape " + Arrays.toString(shape)
          + ", expected " + Arrays.toString(expectedShape));
    }
    return f;
  }

  @Override
  public float[] read(String name, long... expectedShape) {
    SafetensorsFile f = checked(name, expectedShape);
    float[] values = f.readFloats(name);
    // A diverged training step leaves NaN or Inf behind; loaded, they would only surface as NaN
    // log-probs much later.
    for (int i = 0; i < values.length; i++) {
      if (!Float.isFinite(values[i])) {
        throw new TreeRollException(f.path() + ": tensor '" + name + "' holds " + values[i] + " at element " + i
            + "; refusing non-finite weights");
      }
    }
    return values;
  }

  @Override
  public void close() {
    files.values().forEach(SafetensorsFile::close);
  }
}
