package org.treeroll.cli;

import com.sun.management.HotSpotDiagnosticMXBean;
import com.sun.management.OperatingSystemMXBean;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.TreeRollException;

/**
 * Small checks shared by commands. Every numeric option is checked here before anything is
 * allocated, so a typo (a zero, a sign, three digits too many) is one line naming the option,
 * never an OutOfMemoryError or a run that cannot finish.
 */
final class Cli {
  private Cli() {}

  /** Most answers per prompt, prompts per batch or requests per run the commands accept. */
  static final int MAX_COUNT = 1 << 16;
  /** Most concurrent clients, in-flight requests or batch rows: each holds threads or rows. */
  static final int MAX_PARALLEL = 4096;

  /** Refuses an option value that must be > 0. */
  static void positive(String option, long v) {
    if (v <= 0) {
      throw new TreeRollException(option + " must be > 0, got " + v);
    }
  }

  /** Refuses a value outside [lo, hi]; {@code why} says where the upper bound comes from. */
  static void inRange(String option, long v, long lo, long hi, String why) {
    if (v < lo || v > hi) {
      throw new TreeRollException(option + " must be in [" + lo + ", " + hi + "]" + (why.isEmpty() ? "" : " (" + why + ")")
          + ", got " + v);
    }
  }

  /** A count: 1 to {@link #MAX_COUNT}. */
  static void count(String option, long v) {
    inRange(option, v, 1, MAX_COUNT, "");
  }

  /** Refuses NaN, infinities and values outside [lo, hi]. */
  static void inRange(String option, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) {
      throw new TreeRollException(option + " must be a number in [" + lo + ", " + hi + "], got " + v);
    }
  }

  /** Token lengths: 1 to the model's context. */
  static void withinContext(String option, long tokens, ModelConfig cfg, String model) {
    if (tokens < 1 || tokens > cfg.maxPositionEmbeddings()) {
      throw new TreeRollException(option + " must be in [1, " + cfg.maxPositionEmbeddings() + "] ("
          + model + "'s max_position_embeddings), got " + tokens);
    }
  }

  /** {@code --segment} x {@code --depth}: an answer must fit the model's context. */
  static void answerFitsContext(int segment, int depth, ModelConfig cfg, String model) {
    long tokens = (long) segment * depth;
    if (tokens > cfg.maxPositionEmbeddings()) {
      throw new TreeRollException("--segment " + segment + " x --depth " + depth + " = " + tokens
          + " answer tokens exceeds " + model + "'s max_position_embeddings " + cfg.maxPositionEmbeddings());
    }
  }

  /**
   * The KV budget in bytes, refused when it is not positive or more than this machine can hold:
   * the pages are allocated up front, so a budget past memory would fail deep inside allocation.
   */
  static long kvBudgetBytes(String option, long mb) {
    positive(option, mb);
    long limit = machineMemoryBytes();
    if (mb > limit >> 20) {
      throw new TreeRollException(String.format(Locale.ROOT, "%s %d MB exceeds what this machine can hold for KV"
          + " pages: %d MB (3/4 of physical memory, at most the JVM's direct-memory limit)", option, mb, limit >> 20));
    }
    return mb << 20;
  }

  /** Memory a budget may claim: 3/4 of physical memory, and no more than the JVM may allocate directly. */
  static long machineMemoryBytes() {
    long physical = ((OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
    long direct = Long.parseLong(ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
        .getVMOption("MaxDirectMemorySize").getValue());
    long directLimit = direct > 0 ? direct : Runtime.getRuntime().maxMemory(); // 0: the JDK's default, the heap size
    return Math.min(physical / 4 * 3, directLimit);
  }

  /**
   * {@code --fail-on-reward-errors}: refuses a batch in which some answer got no reward (a
   * verifier down, say), so nothing half-scored is written for a trainer to pick up.
   */
  static void failOnRewardErrors(boolean enabled, TreeRewards.Summary s, String where) {
    if (enabled && s.errors() > 0) {
      throw new TreeRollException("--fail-on-reward-errors: " + s.errors() + " of " + (s.scored() + s.errors())
          + " answers " + where + " got no reward; the first: " + s.firstError());
    }
  }

  static void checkTokenIds(int[] ids, int vocab, String option) {
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        throw new TreeRollException(option + ": token id " + ids[i] + " at position " + i
            + " is outside the vocabulary [0, " + vocab + ")");
      }
    }
  }
}
