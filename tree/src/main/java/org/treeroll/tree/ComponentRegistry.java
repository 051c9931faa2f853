package org.treeroll.tree;

import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Components of one kind by name: each entry declares its parameters, so a spec with an unknown
 * name or parameter is refused with the valid choices listed.
 */
public final class ComponentRegistry<T> {
  private record Entry<T>(Set<String> params, Function<ComponentSpec, T> factory) {}

  private final String kind;
  private final Map<String, Entry<T>> entries = new TreeMap<>();

  public ComponentRegistry(String kind) {
    this.kind = kind;
  }

  public ComponentRegistry<T> register(String name, Set<String> params, Function<ComponentSpec, T> factory) {
    if (entries.put(name, new Entry<>(Set.copyOf(params), factory)) != null) {
      throw new IllegalArgumentException(kind + " '" + name + "' is registered twice");
    }
    return this;
  }

  public Set<String> names() {
    return entries.keySet();
  }

  /** Builds the component a spec such as {@code name:key=value} names. */
  public T create(String spec) {
    ComponentSpec s = ComponentSpec.parse(kind, spec);
    Entry<T> e = entries.get(s.name());
    if (e == null) {
      throw new TreeRollException("unknown " + kind + " '" + s.name() + "'; valid: " + String.join(", ", names()));
    }
    return e.factory().apply(s.allowOnly(e.params()));
  }
}
