package org.treeroll.engine.scheduler;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.treeroll.tree.RolloutTree;

/** One tree's growing state: its live branches and how many answers it has. */
final class TreeState {
  final RolloutRun run;
  final RolloutTree tree;
  final SplittableRandom seeds;
  final List<Branch> live = new ArrayList<>();
  int leaves;
  int finishedThisSegment;
  int refillsLeft; // a policy whose new answers keep dying at once must not loop forever
  boolean done; // no branch is live and none will start: numbered for good, reported

  TreeState(RolloutRun run, RolloutTree tree, SplittableRandom seeds, int refills) {
    this.run = run;
    this.tree = tree;
    this.seeds = seeds;
    this.refillsLeft = refills;
  }
}
