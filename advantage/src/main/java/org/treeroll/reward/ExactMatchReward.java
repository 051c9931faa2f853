package org.treeroll.reward;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * {@code exact}: 1 when the response's final answer ({@link AnswerExtractor}) equals the reference
 * after trimming both, else 0. A response with no final answer scores 0: it answered nothing. A
 * request without a reference is an error, since there is nothing to compare against.
 */
public final class ExactMatchReward implements RewardFunction {

  @Override
  public String name() {
    return "exact";
  }

  @Override
  public CompletableFuture<Reward> score(RewardRequest request) {
    if (request.reference() == null) {
      return CompletableFuture.completedFuture(Reward.failed(name() + ": the request has no reference answer"));
    }
    Optional<String> answer = AnswerExtractor.finalAnswer(request.response(), true);
    boolean correct = answer.isPresent() && answer.get().strip().equals(request.reference().strip());
    return CompletableFuture.completedFuture(Reward.of(correct));
  }
}
