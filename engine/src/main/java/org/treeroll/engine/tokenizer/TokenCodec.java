package org.treeroll.engine.tokenizer;

/** Text to token ids and back, as a tokenizer.json defines it. */
interface TokenCodec extends AutoCloseable {

  /**
   * The ids of {@code text}; special tokens written in it encode to their ids.
   * {@code withPostProcessor}: add what tokenizer.json's post-processor adds around a text (e.g. BOS).
   */
  int[] encode(String text, boolean withPostProcessor);

  /** The text of {@code ids}, bytes that are not valid UTF-8 as U+FFFD; ids outside the vocabulary are dropped. */
  String decode(int[] ids, boolean skipSpecialTokens);

  @Override
  void close();
}
