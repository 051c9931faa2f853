package org.treeroll.tree;

/**
 * An error caused by the user's input or files (a bad config, a broken model file, an unknown
 * name). Its message is written for the user: it names the file or field and the problem, and
 * the command line prints it as one line without a stack trace.
 */
public class TreeRollException extends RuntimeException {
  public TreeRollException(String message) {
    super(message);
  }

  public TreeRollException(String message, Throwable cause) {
    super(message, cause);
  }
}
