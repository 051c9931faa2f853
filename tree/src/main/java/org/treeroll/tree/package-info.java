/**
 * The rollout tree: the data every other module reads or writes (nodes, segments, dumps), and
 * the user-facing error type. Depends on nothing else in TreeRoll.
 */
package org.treeroll.tree;
