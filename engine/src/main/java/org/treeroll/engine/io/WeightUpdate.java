package org.treeroll.engine.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.treeroll.tree.TreeRollException;

/**
 * New values for some of a model's weights, named as in a HF checkpoint, e.g. from a trainer
 * after an optimizer step (see {@link org.treeroll.engine.runtime.Model#prepareUpdate}). Any
 * subset of the model's tensors may be sent. An update is immutable; tensors in safetensors files
 * stay on disk until read, so a large update is never held twice in memory.
 *
 * <p>Checks that need no model happen here (every name once, at least one tensor, file headers
 * valid); the model checks names, shapes and values against itself when it prepares the update.
 */
public final class WeightUpdate {
  /** Where one tensor's values are: in memory, or a byte range of a safetensors file. */
  private sealed interface Stored permits InMemory, InFile {
    DType dtype();

    long[] shape();
  }

  private record InMemory(UpdateTensor tensor) implements Stored {
    @Override
    public DType dtype() {
      return tensor.dtype();
    }

    @Override
    public long[] shape() {
      return tensor.shape();
    }
  }

  private record InFile(Path file, SafetensorsFile.TensorInfo info) implements Stored {
    @Override
    public DType dtype() {
      return info.dtype();
    }

    @Override
    public long[] shape() {
      return info.shape().clone();
    }
  }

  private final Map<String, Stored> tensors; // in the order given

  private WeightUpdate(Map<String, Stored> tensors) {
    if (tensors.isEmpty()) {
      throw new TreeRollException("weight update: no tensors (an empty update would change nothing)");
    }
    this.tensors = Collections.unmodifiableMap(tensors);
  }

  /**
   * The weights of a HF model directory, as {@link WeightSource#open} finds them:
   * {@code model.safetensors}, or the shards {@code model.safetensors.index.json} maps each
   * tensor to.
   */
  public static WeightUpdate fromDirectory(Path hfDir) {
    Map<String, Stored> out = new LinkedHashMap<>();
    try (SafetensorsWeights w = SafetensorsWeights.open(hfDir)) {
      for (String name : w.names()) {
        SafetensorsFile f = w.fileOf(name);
        out.put(name, new InFile(f.path(), f.tensors().get(name)));
      }
    } catch (TreeRollException e) {
      throw new TreeRollException("weight update: " + e.getMessage(), e);
    }
    return new WeightUpdate(out);
  }

  /** Every tensor of these safetensors files; a name in two files is refused. */
  public static WeightUpdate fromSafetensors(List<Path> files) {
    Map<String, Stored> out = new LinkedHashMap<>();
    for (Path file : files) {
      for (SafetensorsFile.TensorInfo t : header(file)) {
        Stored before = out.putIfAbsent(t.name(), new InFile(file, t));
        if (before != null) {
          throw new TreeRollException("weight update: tensor '" + t.name() + "' is in both "
              + ((InFile) before).file() + " and " + file + "; send each tensor once");
        }
      }
    }
    return new WeightUpdate(out);
  }

  /** The tensors a file's header lists (the header checked whole, see {@link SafetensorsFile}). */
  private static List<SafetensorsFile.TensorInfo> header(Path file) {
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      return List.copyOf(f.tensors().values());
    } catch (TreeRollException e) {
      throw new TreeRollException("weight update: " + e.getMessage(), e);
    }
  }

  /** Tensors in memory; a name given twice is refused. */
  public static WeightUpdate fromTensors(List<UpdateTensor> tensors) {
    Map<String, Stored> out = new LinkedHashMap<>();
    for (UpdateTensor t : tensors) {
      if (out.putIfAbsent(t.name(), new InMemory(t)) != null) {
        throw new TreeRollException("weight update: tensor '" + t.name() + "' is given twice; send each tensor once");
      }
    }
    return new WeightUpdate(out);
  }

  /** Names of the tensors, in the order given. */
  public Set<String> names() {
    return tensors.keySet();
  }

  public DType dtype(String name) {
    return stored(name).dtype();
  }

  /** The tensor's shape as sent (a copy). */
  public long[] shape(String name) {
    return stored(name).shape();
  }

  /** Bytes of all tensors as sent (in their own dtypes). */
  public long bytes() {
    long n = 0;
    for (Stored s : tensors.values()) {
      n += NamedTensor.elementCount(s.shape()) * s.dtype().bytes();
    }
    return n;
  }

  /**
   * Reads one BF16 or F16 tensor's bits as sent, row-major, without widening; a file-backed tensor
   * is read from disk now.
   *
   * @throws IllegalArgumentException if the tensor is not 16-bit
   */
  public ShortBuffer readBits(String name) {
    Stored s = stored(name);
    if (s.dtype().bytes() != 2) {
      throw new IllegalArgumentException("tensor '" + name + "' is " + s.dtype() + ", not 16-bit");
    }
    return switch (s) {
      case InMemory m -> m.tensor().data().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
      case InFile f -> {
        try (SafetensorsFile file = SafetensorsFile.open(f.file())) {
          yield file.readBits(name);
        } catch (TreeRollException e) {
          throw new TreeRollException("weight update: " + e.getMessage(), e);
        }
      }
    };
  }

  /** Reads one tensor as fp32, row-major; a file-backed tensor is read from disk now. */
  public float[] readFloats(String name) {
    Stored s = stored(name);
    long count = NamedTensor.elementCount(s.shape());
    if (count > Integer.MAX_VALUE - 8) {
      throw new TreeRollException("weight update: tensor '" + name + "' has " + count
          + " elements, more than one array holds");
    }
    float[] out = new float[(int) count];
    switch (s) {
      case InMemory m -> m.tensor().dtype().decode(m.tensor().data(), out, 0, out.length);
      case InFile f -> {
        try (FileChannel ch = FileChannel.open(f.file(), StandardOpenOption.READ)) {
          ByteBuffer data = ch.map(FileChannel.MapMode.READ_ONLY, f.info().begin(), f.info().end() - f.info().begin());
          f.dtype().decode(data, out, 0, out.length);
        } catch (IOException e) {
          throw new TreeRollException("weight update: " + f.file() + ": tensor '" + name + "': cannot read: "
              + e.getMessage(), e);
        }
      }
    }
    return out;
  }

  private Stored stored(String name) {
    Stored s = tensors.get(name);
    if (s == null) {
      throw new TreeRollException("weight update: no tensor '" + name + "' in this update");
    }
    return s;
  }
}
