package org.treeroll.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.treeroll.branching.SemanticEntropyPolicy;
import org.treeroll.reward.AnswerExtractor;

/** Sibling answers grouped into meaning classes the way the engine groups them for semantic entropy. */
class AnswerClassesTest {
  @Test
  void equivalentFinalAnswersShareAClassAndTheEntropyCountsClasses() {
    List<String> siblings = List.of(
        "3*4=12\n12-8=4\nAnswer: 4\n",
        "So the result is \\boxed{4.0}.",
        "Answer: \\frac{8}{2}",
        "3*4=12\n12-7=5\nAnswer: 5\n",
        "I am not sure.");
    List<String> classes = siblings.stream()
        .map(s -> AnswerExtractor.meaningClass(s, true).orElse("none")).toList();
    // Three ways of writing 4 are one class; 5 and the answer without a final answer are two more.
    assertThat(classes.get(0)).isEqualTo(classes.get(1)).isEqualTo(classes.get(2));
    assertThat(classes.get(3)).isNotEqualTo(classes.get(0));
    assertThat(classes.get(4)).isEqualTo("none");
    // Class frequencies 3/5, 1/5, 1/5: H = -(0.6 ln 0.6 + 2 * 0.2 ln 0.2) = 0.9503 nats.
    assertThat(SemanticEntropyPolicy.semanticEntropy(classes)).isCloseTo(0.950271, within(1e-6));
    // An answer line still being written is not an answer yet, unless the answer has ended.
    assertThat(AnswerExtractor.meaningClass("Answer: 4", false)).isEmpty();
    assertThat(AnswerExtractor.meaningClass("Answer: 4", true)).contains(classes.get(0));
  }
}
