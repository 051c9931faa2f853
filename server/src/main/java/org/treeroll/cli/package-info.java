/**
 * The {@code treeroll} command line (picocli): every command, its options and their checks.
 * Errors are one line on stderr; see {@link org.treeroll.cli.TreeRollCli}.
 */
package org.treeroll.cli;
