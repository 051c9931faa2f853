/** Rewards flowing up the rollout tree into segment- and token-level advantages. */
package org.treeroll.advantage;
