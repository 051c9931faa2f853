package org.treeroll.tree;

/** Why a sequence (a leaf of a rollout tree) stopped growing. */
public enum FinishReason {
  /** The model emitted one of its end-of-sequence tokens. */
  EOS,
  /** The model emitted a stop token the request named. */
  STOP_TOKEN,
  /**
   * The answer's text reached a stop string the request named; its last token completed it (and
   * may carry text past it, which the answer's text leaves out).
   */
  STOP_STRING,
  /** The response reached its token limit. */
  MAX_TOKENS,
  /** A tree rollout reached its last segment. */
  DEPTH_LIMIT,
  /** The answer fell into a loop: a short token pattern repeated many times in a row. */
  REPETITION,
  /** The answer's outcome is settled: it already holds a complete final answer. */
  ANSWERED
}
