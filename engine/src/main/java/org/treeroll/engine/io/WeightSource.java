package org.treeroll.engine.io;

import java.nio.ShortBuffer;
import java.nio.file.Path;
import java.util.Set;

/**
 * Named weight tensors of a model, read as fp32 whatever their stored dtype, or as stored where
 * that is 16 bits. Every error names
 * the file and the tensor it concerns.
 */
public interface WeightSource extends AutoCloseable {

  /** Names of every tensor the source holds. */
  Set<String> names();

  default boolean contains(String name) {
    return names().contains(name);
  }

  /**
   * Reads one tensor as fp32 (row-major), checking that its shape is {@code expectedShape}.
   *
   * @throws org.treeroll.tree.TreeRollException if the tensor is missing, has another shape, or
   *     its bytes are not in the file
   */
  float[] read(String name, long... expectedShape);

  /** How {@code name} is stored; fp32 unless the source says otherwise. */
  default DType dtype(String name) {
    return DType.F32;
  }

  /**
   * One BF16 or F16 tensor's bits as stored (row-major), checking its shape and that every value
   * is finite.
   *
   * @throws org.treeroll.tree.TreeRollException as {@link #read} does
   * @throws UnsupportedOperationException if the source holds no 16-bit tensors
   */
  default ShortBuffer readBits(String name, long... expectedShape) {
    throw new UnsupportedOperationException("this weight source holds no 16-bit tensors");
  }

  @Override
  void close();

  /**
   * Opens the weights of a HF model directory: {@code model.safetensors}, or the shards listed by
   * {@code model.safetensors.index.json}.
   */
  static WeightSource open(Path modelDir) {
    return SafetensorsWeights.open(modelDir);
  }
}
