/**
 * Rewards of finished answers: reward functions chosen by name ({@link org.treeroll.reward.RewardFunctions}),
 * final-answer extraction and math normalisation, a remote HTTP verifier, and scoring of the leaves
 * of rollout trees ({@link org.treeroll.reward.TreeRewards}).
 */
package org.treeroll.reward;
