package org.treeroll.engine.task;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import org.treeroll.tree.TreeRollException;

/**
 * A verifiable reasoning task: multi-step integer arithmetic with a worked solution.
 *
 * <p>A prompt is {@code "Q: 17+4*6-9=?\n"}; its solution does one operation per line in
 * precedence order (every {@code *} first, left to right, then {@code +} and {@code -} left to
 * right) and ends in the final-answer line, e.g. {@code "4*6=24\n17+24=41\n41-9=32\nAnswer: 32\n"}
 * (the model then emits EOS). Both operands of a {@code *} are single digits 2-9 and no two
 * {@code *} are adjacent, so every product is a table fact; other operands have up to
 * {@link Level#digits} digits. Intermediate results may be negative.
 *
 * <p>Problems are a pure function of (seed, index, level). Each problem belongs to the train or
 * the held-out split by a hash of its prompt text, so the splits never share a problem, whatever
 * the seeds. The verifier reads the last {@code Answer:} line of a response.
 */
public final class ArithmeticTask {
  /** Share of problems (by prompt hash) that are held out: one in this many. */
  public static final int HELD_OUT_ONE_IN = 8;

  /** The final-answer line's prefix. */
  public static final String ANSWER_PREFIX = "Answer: ";

  /** Difficulty: how many operands, how many digits each may have. */
  public enum Level {
    L1(1, 2, 2, false),
    L2(2, 3, 2, true),
    L3(3, 4, 2, true),
    L4(4, 5, 2, true);

    final int number;
    /** Operands in the expression. */
    public final int operands;
    /** Digits of an operand that is not a factor of {@code *}. */
    public final int digits;
    /** Whether {@code *} may appear. */
    public final boolean multiply;

    Level(int number, int operands, int digits, boolean multiply) {
      this.number = number;
      this.operands = operands;
      this.digits = digits;
      this.multiply = multiply;
    }

    public int number() {
      return number;
    }

    public static Level of(int number) {
      for (Level l : values()) {
        if (l.number == number) {
          return l;
        }
      }
      throw new TreeRollException("difficulty level must be 1-" + values().length + ", got " + number);
    }
  }

  public enum Split { TRAIN, HELD_OUT }

  /**
   * One problem.
   *
   * @param prompt the question line, newline included
   * @param solution the worked solution and final-answer line (EOS not included)
   */
  public record Problem(Level level, String prompt, String solution, long answer) {
    public Split split() {
      return splitOf(prompt);
    }
  }

  private final double[] levelWeights;

  /** A task drawing levels 1..n with the given relative weights. */
  public ArithmeticTask(double... levelWeights) {
    if (levelWeights.length == 0 || levelWeights.length > Level.values().length) {
      throw new TreeRollException("level weights: expected 1-" + Level.values().length
          + " values, got " + levelWeights.length);
    }
    double sum = 0;
    for (double w : levelWeights) {
      if (!(w >= 0) || Double.isInfinite(w)) {
        throw new TreeRollException("level weights must be finite and >= 0, got " + Arrays.toString(levelWeights));
      }
      sum += w;
    }
    if (sum <= 0) {
      throw new TreeRollException("level weights must not all be 0");
    }
    this.levelWeights = levelWeights.clone();
  }

  /** The mix the bundled model is trained and measured on: levels 1-4 equally. */
  public static ArithmeticTask defaultMix() {
    return new ArithmeticTask(1, 1, 1, 1);
  }

  public double[] levelWeights() {
    return levelWeights.clone();
  }

  /**
   * Problem {@code index} of {@code split}: its level drawn from this task's mix, then problems
   * of that level generated from (seed, index, level, attempt) until one falls in the split.
   */
  public Problem problem(Split split, long seed, long index) {
    SplittableRandom rng = new SplittableRandom(mix(seed, index, -1));
    double total = Arrays.stream(levelWeights).sum();
    double r = rng.nextDouble() * total;
    int level = levelWeights.length;
    for (int i = 0; i < levelWeights.length; i++) {
      r -= levelWeights[i];
      if (r < 0 && levelWeights[i] > 0) {
        level = i + 1;
        break;
      }
    }
    return problem(split, seed, index, Level.of(level));
  }

  /** Problem {@code index} of {@code split} at a fixed level. */
  public static Problem problem(Split split, long seed, long index, Level level) {
    for (int attempt = 0; ; attempt++) {
      Problem p = generate(mix(seed, index, attempt), level);
      if (p.split() == split) {
        return p;
      }
    }
  }

  /** {@code count} problems of {@code split}, indices 0..count-1. */
  public List<Problem> problems(Split split, long seed, int count) {
    List<Problem> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      out.add(problem(split, seed, i));
    }
    return out;
  }

  /** The problem generated from (seed, index, level), whichever split it falls in. */
  public static Problem generate(long seed, long index, Level level) {
    return generate(mix(seed, index, 0), level);
  }

  private static Problem generate(long rngSeed, Level level) {
    SplittableRandom rng = new SplittableRandom(rngSeed ^ (0x5DEECE66DL * level.number));
    int n = level.operands;
    char[] ops = new char[n - 1];
    for (int i = 0; i < ops.length; i++) {
      boolean canMultiply = level.multiply && (i == 0 || ops[i - 1] != '*');
      int choice = rng.nextInt(canMultiply ? 3 : 2);
      ops[i] = choice == 0 ? '+' : choice == 1 ? '-' : '*';
    }
    long[] operands = new long[n];
    long limit = pow10(level.digits);
    for (int i = 0; i < n; i++) {
      boolean factor = (i > 0 && ops[i - 1] == '*') || (i < ops.length && ops[i] == '*');
      operands[i] = factor ? 2 + rng.nextInt(8) : rng.nextLong(limit);
    }
    StringBuilder q = new StringBuilder("Q: ");
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        q.append(ops[i - 1]);
      }
      q.append(operands[i]);
    }
    q.append("=?\n");
    Solved s = solve(operands, ops);
    return new Problem(level, q.toString(), s.steps + ANSWER_PREFIX + s.value + "\n", s.value);
  }

  private record Solved(String steps, long value) {}

  /** Evaluates with precedence, writing one line per operation. */
  private static Solved solve(long[] operands, char[] ops) {
    List<Long> vals = new ArrayList<>();
    List<Character> os = new ArrayList<>();
    for (long v : operands) {
      vals.add(v);
    }
    for (char c : ops) {
      os.add(c);
    }
    StringBuilder steps = new StringBuilder();
    for (int i = 0; i < os.size(); ) {
      if (os.get(i) == '*') {
        long a = vals.get(i);
        long b = vals.get(i + 1);
        long r = a * b;
        steps.append(a).append('*').append(b).append('=').append(r).append('\n');
        vals.set(i, r);
        vals.remove(i + 1);
        os.remove(i);
      } else {
        i++;
      }
    }
    long acc = vals.get(0);
    for (int i = 0; i < os.size(); i++) {
      long b = vals.get(i + 1);
      long r = os.get(i) == '+' ? acc + b : acc - b;
      steps.append(acc).append(os.get(i)).append(b).append('=').append(r).append('\n');
      acc = r;
    }
    return new Solved(steps.toString(), acc);
  }

  /** The split a prompt belongs to, from a hash of its text. */
  public static Split splitOf(String prompt) {
    long h = 0xcbf29ce484222325L; // FNV-1a
    for (byte b : prompt.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    return Math.floorMod(finalizer(h), HELD_OUT_ONE_IN) == 0 ? Split.HELD_OUT : Split.TRAIN;
  }

  /** The integer on the last {@code Answer:} line of a response, empty when there is none. */
  public static OptionalLong extractAnswer(String response) {
    String[] lines = response.split("\n", -1);
    for (int i = lines.length - 1; i >= 0; i--) {
      String line = lines[i].strip();
      if (line.startsWith("Answer:")) {
        String num = line.substring("Answer:".length()).strip();
        if (!num.matches("-?\\d{1,18}")) {
          return OptionalLong.empty();
        }
        return OptionalLong.of(Long.parseLong(num));
      }
    }
    return OptionalLong.empty();
  }

  /** Whether a response's final answer is the problem's: reward 1, else 0. */
  public static boolean verify(Problem problem, String response) {
    OptionalLong a = extractAnswer(response);
    return a.isPresent() && a.getAsLong() == problem.answer();
  }

  private static long pow10(int digits) {
    long p = 1;
    for (int i = 0; i < digits; i++) {
      p *= 10;
    }
    return p;
  }

  private static long mix(long seed, long index, long salt) {
    long h = finalizer(seed * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L);
    h = finalizer(h ^ (index * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL));
    return finalizer(h ^ (salt * 0xD6E8FEB86659FD93L));
  }

  private static long finalizer(long z) { // SplitMix64's
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
