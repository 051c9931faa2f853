package org.treeroll.export;

/** Column names shared by the exporters, chosen to match verl's DataProto keys. */
final class Columns {
  static final String UID = "uid";
  static final String TREE_ID = "tree_id";
  static final String LEAF_ID = "leaf_id";
  static final String WEIGHT_VERSION = "weight_version";
  static final String POLICY = "policy";
  static final String ESTIMATOR = "estimator";
  static final String PROMPTS = "prompts";
  static final String RESPONSES = "responses";
  static final String RESPONSE_MASK = "response_mask";
  static final String OLD_LOG_PROBS = "old_log_probs";
  static final String ADVANTAGES = "advantages";
  static final String TOKEN_LEVEL_SCORES = "token_level_scores";
  static final String SEGMENT_ENDS = "segment_ends";
  static final String SEGMENT_ADVANTAGES = "segment_advantages";
  static final String NODE_IDS = "node_ids";
  static final String REWARD = "reward";
  static final String REWARD_ERROR = "reward_error";
  static final String FINISH_REASON = "finish_reason";
  // The verl mode's padded tensors (VerlExporter).
  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String POSITION_IDS = "position_ids";
  static final String ROLLOUT_LOG_PROBS = "rollout_log_probs";
  static final String TOKEN_LEVEL_REWARDS = "token_level_rewards";

  private Columns() {}
}
