package org.treeroll.engine.task;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.treeroll.engine.task.ArithmeticTask.Level;
import org.treeroll.engine.task.ArithmeticTask.Problem;
import org.treeroll.engine.task.ArithmeticTask.Split;
import org.treeroll.tree.TreeRollException;

class ArithmeticTaskTest {
  private final ArithmeticTask task = ArithmeticTask.defaultMix();

  @Test
  void workedSolutionFollowsPrecedenceOneOperationPerLine() {
    // Find a level-2 problem with a product in second place and check its layout by hand.
    for (long i = 0; ; i++) {
      Problem p = ArithmeticTask.generate(3, i, Level.L2);
      String expr = p.prompt().substring(3, p.prompt().length() - 3);
      String[] parts = expr.split("(?<=[-+*])|(?=[-+*])");
      if (parts.length == 5 && parts[1].matches("[-+]") && parts[3].equals("*")) {
        long a = Long.parseLong(parts[0]);
        long b = Long.parseLong(parts[2]);
        long c = Long.parseLong(parts[4]);
        long prod = b * c;
        long result = parts[1].equals("+") ? a + prod : a - prod;
        assertThat(p.prompt()).isEqualTo("Q: " + expr + "=?\n");
        assertThat(p.solution()).isEqualTo(b + "*" + c + "=" + prod + "\n" + a + parts[1] + prod + "="
            + result + "\nAnswer: " + result + "\n");
        assertThat(p.answer()).isEqualTo(result);
        return;
      }
    }
  }

  @Test
  void verifierAcceptsEveryGeneratedSolutionAndItsAnswerIsTheExpressionsValue() {
    for (Level level : Level.values()) {
      for (long i = 0; i < 2000; i++) {
        Problem p = ArithmeticTask.generate(7, i, level);
        assertThat(ArithmeticTask.verify(p, p.solution())).as(p.prompt()).isTrue();
        assertThat(p.answer()).as(p.prompt()).isEqualTo(evaluate(p.prompt()));
        // Each line is one operation and its result, the last one repeats it as the answer.
        String[] lines = p.solution().split("\n");
        assertThat(lines).hasSize(level.operands);
        for (int l = 0; l < lines.length - 1; l++) {
          assertThat(lines[l]).matches("-?\\d+[-+*]\\d+=-?\\d+");
          assertThat(evaluate("Q: " + lines[l].substring(0, lines[l].indexOf('=')) + "=?\n"))
              .isEqualTo(Long.parseLong(lines[l].substring(lines[l].indexOf('=') + 1)));
        }
        assertThat(lines[lines.length - 1]).isEqualTo("Answer: " + p.answer());
        // A wrong final answer is rejected.
        assertThat(ArithmeticTask.verify(p, p.solution().replace("Answer: " + p.answer(),
            "Answer: " + (p.answer() + 1)))).isFalse();
      }
    }
  }

  @Test
  void verifierReadsTheLastAnswerLineOnly() {
    Problem p = ArithmeticTask.generate(1, 0, Level.L1);
    assertThat(ArithmeticTask.verify(p, "Answer: " + (p.answer() + 1) + "\nAnswer: " + p.answer() + "\n")).isTrue();
    assertThat(ArithmeticTask.verify(p, "Answer: " + p.answer() + "\nAnswer: " + (p.answer() + 1) + "\n")).isFalse();
    assertThat(ArithmeticTask.verify(p, "Answer: " + p.answer() + "x\n")).isFalse();
    assertThat(ArithmeticTask.verify(p, "no answer here")).isFalse();
    assertThat(ArithmeticTask.verify(p, "")).isFalse();
    assertThat(ArithmeticTask.extractAnswer("1+2=3\nAnswer: -41")).hasValue(-41);
  }

  @Test
  void splitsAreDisjointAndMatchTheirLabel() {
    Set<String> train = new HashSet<>();
    Set<String> heldOut = new HashSet<>();
    for (long seed : new long[] {1, 2}) {
      task.problems(Split.TRAIN, seed, 3000).forEach(p -> train.add(p.prompt()));
      task.problems(Split.HELD_OUT, seed, 1000).forEach(p -> heldOut.add(p.prompt()));
    }
    assertThat(train).allMatch(p -> ArithmeticTask.splitOf(p) == Split.TRAIN);
    assertThat(heldOut).allMatch(p -> ArithmeticTask.splitOf(p) == Split.HELD_OUT);
    Set<String> both = new HashSet<>(train);
    both.retainAll(heldOut);
    assertThat(both).isEmpty();
    assertThat(heldOut.size()).isGreaterThan(1500); // mostly distinct problems
  }

  @Test
  void heldOutShareIsAboutOneInEight() {
    int held = 0;
    int n = 8000;
    for (long i = 0; i < n; i++) {
      if (ArithmeticTask.generate(9, i, Level.L3).split() == Split.HELD_OUT) {
        held++;
      }
    }
    assertThat((double) held / n).isBetween(0.10, 0.15);
  }

  @Test
  void sameSeedSameProblemsOtherSeedOtherProblems() {
    List<Problem> a = task.problems(Split.TRAIN, 42, 200);
    List<Problem> b = task.problems(Split.TRAIN, 42, 200);
    List<Problem> c = task.problems(Split.TRAIN, 43, 200);
    assertThat(a).isEqualTo(b);
    assertThat(a).isNotEqualTo(c);
  }

  @Test
  void levelsFollowTheMixAndShapes() {
    ArithmeticTask onlyL3 = new ArithmeticTask(0, 0, 1);
    assertThat(onlyL3.problems(Split.TRAIN, 5, 100)).allMatch(p -> p.level() == Level.L3);
    List<Problem> mixed = task.problems(Split.HELD_OUT, 5, 400);
    for (Level l : Level.values()) {
      assertThat(mixed.stream().filter(p -> p.level() == l).count()).isBetween(60L, 140L);
    }
    for (Problem p : mixed) {
      String expr = p.prompt().substring(3, p.prompt().length() - 3);
      assertThat(expr.split("[-+*]")).hasSize(p.level().operands);
      assertThat(expr).doesNotContain("**");
      if (!p.level().multiply) {
        assertThat(expr).doesNotContain("*");
      }
    }
  }

  @Test
  void badArgumentsAreRefused() {
    assertThatThrownBy(() -> new ArithmeticTask()).isInstanceOf(TreeRollException.class);
    assertThatThrownBy(() -> new ArithmeticTask(0, 0)).isInstanceOf(TreeRollException.class);
    assertThatThrownBy(() -> new ArithmeticTask(1, 1, 1, 1, 1)).isInstanceOf(TreeRollException.class);
    assertThatThrownBy(() -> Level.of(9)).isInstanceOf(TreeRollException.class);
  }

  /** An independent evaluator: shunting by precedence over the prompt's expression. */
  private static long evaluate(String prompt) {
    String expr = prompt.substring(3, prompt.length() - 3);
    // Split into signed terms of products.
    long total = 0;
    long term = 0;
    char sign = '+';
    int i = 0;
    while (i < expr.length()) {
      int j = i;
      if (expr.charAt(j) == '-' && i == 0) {
        j++;
      }
      while (j < expr.length() && Character.isDigit(expr.charAt(j))) {
        j++;
      }
      long num = Long.parseLong(expr.substring(i, j));
      term = term == 0 && (i == 0 || expr.charAt(i - 1) != '*') ? num : term * num;
      if (j == expr.length() || expr.charAt(j) != '*') {
        total += sign == '+' ? term : -term;
        term = 0;
        if (j < expr.length()) {
          sign = expr.charAt(j);
        }
      }
      i = j + 1;
    }
    return total;
  }
}
