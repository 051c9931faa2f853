package org.treeroll.reward;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MathNormalizerTest {

  @ParameterizedTest(name = "[{index}] {0} vs {1} -> {2}")
  @CsvSource(delimiter = '|', textBlock = """
      1/2                     | 0.5                        | true
      2/4                     | 1/2                        | true
      \\frac{1}{2}            | 0.5                        | true
      \\dfrac{2}{4}           | 1/2                        | true
      \\tfrac12               | 0.5                        | true
      \\frac{-1}{2}           | -0.5                       | true
      -\\frac{1}{2}           | −1/2                       | true
      1/3                     | 2/6                        | true
      0.333                   | 1/3                        | false
      0.1                     | 1/10                       | true
      .5                      | 1/2                        | true
      +5                      | 5                          | true
      −5                      | -5                         | true
      -5                      | 5                          | false
      -0                      | 0                          | true
      00012                   | 12                         | true
      1,000                   | 1000                       | true
      1,234,567.50            | 1234567.5                  | true
      1{,}000                 | 1000                       | true
      1\\,000                 | 1000                       | true
      1,000                   | 1                          | false
      1,2                     | 12                         | false
      1,2                     | 1, 2                       | true
      2.50                    | 2.5                        | true
      3.0                     | 3                          | true
      42.                     | 42                         | true
      0.5                     | 5                          | false
      10                      | 100                        | false
      2                       | 3                          | false
      50\\%                   | 50                         | true
      50%                     | 50                         | true
      90^\\circ               | 90                         | true
      90^{\\circ}             | 90°                        | true
      \\boxed{42}             | 42                         | true
      \\boxed{\\frac{3}{4}}   | 0.75                       | true
      $\\frac{3}{4}$          | 0.75                       | true
      \\$18                   | 18                         | true
      \\left( 1, 2 \\right)   | (1,2)                      | true
      (0.5, 1)                | (\\frac{1}{2}, 1.0)        | true
      (1, 2)                  | (2, 1)                     | false
      [1, 2)                  | [1,2)                      | true
      \\text{Monday}          | Monday                     | true
      5\\text{ cm}            | 5                          | true
      5 \\mbox{cm}            | 5                          | true
      5 apples                | 5                          | false
      x = 5                   | 5                          | true
      \\sqrt{2}               | \\sqrt{ 2 }                | true
      \\sqrt{2}               | \\sqrt{3}                  | false
      3\\pi                   | 3 \\pi                     | true
      3\\pi                   | 3                          | false
      \\frac{\\sqrt{3}}{2}    | \\dfrac{\\sqrt{3}}{2}      | true
      1/0                     | 0                          | false
      """)
  void comparesAnswers(String a, String b, boolean equal) {
    assertThat(MathNormalizer.equivalent(a, b)).isEqualTo(equal);
    assertThat(MathNormalizer.equivalent(b, a)).as("symmetric").isEqualTo(equal);
    // The canonical form must agree with equivalence: it keys the meaning classes.
    assertThat(MathNormalizer.canonical(a).equals(MathNormalizer.canonical(b))).as("canonical forms").isEqualTo(equal);
  }

  @ParameterizedTest(name = "[{index}] {0} -> {1}")
  @CsvSource(delimiter = '|', textBlock = """
      0.5                        | 1/2
      -2.50                      | -5/2
      1,000                      | 1000
      \\boxed{\\dfrac{2}{4}}     | 1/2
      (0.5, 2.0)                 | (1/2,2)
      \\text{ New York }         | NewYork
      """)
  void spellsEachValueOneWay(String answer, String canonical) {
    assertThat(MathNormalizer.canonical(answer)).isEqualTo(canonical);
  }

  @org.junit.jupiter.api.Test
  void nullIsNeverEqual() {
    assertThat(MathNormalizer.equivalent(null, "1")).isFalse();
    assertThat(MathNormalizer.equivalent("1", null)).isFalse();
  }
}
