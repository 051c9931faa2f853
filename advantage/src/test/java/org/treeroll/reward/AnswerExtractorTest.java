package org.treeroll.reward;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

class AnswerExtractorTest {

  @Test
  void readsBoxesWithNestedBraces() {
    assertThat(AnswerExtractor.finalAnswer("So we get \\boxed{42}.")).hasValue("42");
    assertThat(AnswerExtractor.finalAnswer("\\boxed{\\frac{1}{2}}")).hasValue("\\frac{1}{2}");
    assertThat(AnswerExtractor.finalAnswer("\\boxed{\\{1, 2\\}}")).hasValue("\\{1, 2\\}");
    assertThat(AnswerExtractor.finalAnswer("$\\boxed {7}$ and \\fbox{8}")).hasValue("8");
    assertThat(AnswerExtractor.finalAnswer("\\boxed{\n\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}\n}"))
        .hasValue("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}");
  }

  @Test
  void theLastAnswerWrittenWins() {
    assertThat(AnswerExtractor.finalAnswer("\\boxed{1} no wait, \\boxed{2}")).hasValue("2");
    assertThat(AnswerExtractor.finalAnswer("\\boxed{3}\nAnswer: 4\n")).hasValue("4");
    // An answer label starts its line, so prose that mentions one is not an answer.
    assertThat(AnswerExtractor.finalAnswer("\\boxed{3}\nActually, Answer: 4\n")).hasValue("3");
    assertThat(AnswerExtractor.finalAnswer("Answer: 4\nHmm, so the answer is \\boxed{5}")).hasValue("5");
  }

  @Test
  void anOpenBoxIsNoAnswerYet() {
    assertThat(AnswerExtractor.finalAnswer("\\boxed{\\frac{1}{2")).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("\\boxed{1} wait \\boxed{2")).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("so the answer is \\boxed")).isEmpty();
    // Once finished nothing more comes: the broken box is ignored.
    assertThat(AnswerExtractor.finalAnswer("\\boxed{1} wait \\boxed{2", true)).hasValue("1");
    assertThat(AnswerExtractor.finalAnswer("\\boxed{2", true)).isEmpty();
  }

  @Test
  void aLineAnswerCountsOnceItsLineEndsOrTheResponseIsFinished() {
    assertThat(AnswerExtractor.finalAnswer("Answer: 4")).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("Answer: 42\n")).hasValue("42");
    assertThat(AnswerExtractor.finalAnswer("Answer: 42", true)).hasValue("42");
    assertThat(AnswerExtractor.finalAnswer("Answer: 42\r\n")).hasValue("42");
    assertThat(AnswerExtractor.finalAnswer("#### 7")).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("#### 7", true)).hasValue("7");
    // A new answer line after a complete one may still change the outcome.
    assertThat(AnswerExtractor.finalAnswer("Answer: 3\nWait.\nAnswer:")).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("Answer: 3\nWait.\nThe answer is 1")).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("Answer: 3\nWait.\nThe answer is 1\n")).hasValue("1");
  }

  @Test
  void readsTheCommonAnswerLines() {
    assertThat(AnswerExtractor.finalAnswer("The answer is 42.\n")).hasValue("42");
    assertThat(AnswerExtractor.finalAnswer("Therefore, the final answer is: 3.5 meters. Done.\n")).hasValue("3.5 meters");
    assertThat(AnswerExtractor.finalAnswer("She pays 5 + 13 = 18.\n#### 1,018\n")).hasValue("1,018");
    assertThat(AnswerExtractor.finalAnswer("**Answer:** $\\frac{1}{2}$\n")).hasValue("\\frac{1}{2}");
    assertThat(AnswerExtractor.finalAnswer("Final answer: **12**\n")).hasValue("12");
    assertThat(AnswerExtractor.finalAnswer("Final Answer: The final answer is $5$. I hope it is correct.", true))
        .hasValue("5");
    assertThat(AnswerExtractor.finalAnswer("The answer is $18.", true)).hasValue("18");
  }

  @Test
  void proseAndHeadingsAreNoAnswer() {
    assertThat(AnswerExtractor.finalAnswer("I think it's 42.", true)).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("#### Step 2\nAdd the numbers.\n", true)).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("Answer:\n", true)).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("\\boxed{}", true)).isEmpty();
    assertThat(AnswerExtractor.finalAnswer("", true)).isEmpty();
  }

  @Test
  void answersThatMeanTheSameShareAClass() {
    assertThat(AnswerExtractor.meaningClass("so \\boxed{\\frac{2}{4}}", false)).hasValue("1/2");
    assertThat(AnswerExtractor.meaningClass("The answer is 0.5\n", false)).hasValue("1/2");
    assertThat(AnswerExtractor.meaningClass("#### 0.5", false)).isEmpty();
  }

  @Test
  void nullIsRefused() {
    assertThatThrownBy(() -> AnswerExtractor.finalAnswer(null)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("response is null");
  }
}
