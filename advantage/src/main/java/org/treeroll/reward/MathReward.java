package org.treeroll.reward;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * {@code math}: 1 when the response's final answer ({@link AnswerExtractor}) is equivalent to the
 * reference under {@link MathNormalizer} (so 0.5, 1/2 and {@code \frac{1}{2}} match), else 0. A
 * response with no final answer scores 0; a request without a reference is an error.
 */
public final class MathReward implements RewardFunction {

  @Override
  public String name() {
    return "math";
  }

  @Override
  public CompletableFuture<Reward> score(RewardRequest request) {
    if (request.reference() == null) {
      return CompletableFuture.completedFuture(Reward.failed(name() + ": the request has no reference answer"));
    }
    Optional<String> answer = AnswerExtractor.finalAnswer(request.response(), true);
    boolean correct = answer.isPresent() && MathNormalizer.equivalent(answer.get(), request.reference());
    return CompletableFuture.completedFuture(Reward.of(correct));
  }
}
