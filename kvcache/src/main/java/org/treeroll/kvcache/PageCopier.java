package org.treeroll.kvcache;

/** Copies KV rows between pages; the engine implements it over its tensors. */
@FunctionalInterface
public interface PageCopier {
  /** Copies the KV of offsets {@code [0, tokens)} of page {@code from} into page {@code to}. */
  void copy(int from, int to, int tokens);
}
