package org.treeroll.reward;

import org.treeroll.tree.TreeRollException;

/**
 * One answer to score. Records compare by value, so a request is also the key under which a
 * verifier caches its verdict.
 *
 * @param prompt the prompt text the answer responds to
 * @param response the answer's decoded text
 * @param reference the reference answer, or null when the reward function needs none
 */
public record RewardRequest(String prompt, String response, String reference) {

  public RewardRequest {
    if (prompt == null) {
      throw new TreeRollException("reward request: prompt is null (use \"\" for no prompt)");
    }
    if (response == null) {
      throw new TreeRollException("reward request: response is null");
    }
  }
}
