/** Branching policies: where a rollout tree forks and into how many children. */
package org.treeroll.branching;
