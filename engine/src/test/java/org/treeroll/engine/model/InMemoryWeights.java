package org.treeroll.engine.model;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.tree.TreeRollException;

/** Weights held in memory, for tests that need no files. */
public final class InMemoryWeights implements WeightSource {
  private final Map<String, NamedTensor> tensors = new LinkedHashMap<>();

  public static InMemoryWeights of(List<NamedTensor> list) {
    InMemoryWeights w = new InMemoryWeights();
    list.forEach(t -> w.tensors.put(t.name(), t));
    return w;
  }

  @Override
  public Set<String> names() {
    return tensors.keySet();
  }

  @Override
  public float[] read(String name, long... expectedShape) {
    NamedTensor t = tensors.get(name);
    if (t == null) {
      throw new TreeRollException("in-memory weights: tensor '" + name + "' not found");
    }
    if (!Arrays.equals(t.shape(), expectedShape)) {
      throw new TreeRollException("in-memory weights: tensor '" + name + "' has shape "
          + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(expectedShape));
    }
    return t.data().clone();
  }

  @Override
  public void close() {}
}
