package org.treeroll.engine.io;

import java.nio.file.Path;
import java.util.Set;

/**
 * Named weight tensors of a model, read as fp32 whatever their stored dtype. Every error names
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
