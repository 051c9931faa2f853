package org.treeroll.cli;

import java.nio.file.Path;

/** Where the checkout lives (the launcher passes it) and its git-ignored cache. */
final class Home {
  private Home() {}

  static Path root() {
    return Path.of(System.getProperty("treeroll.home", ".")).toAbsolutePath().normalize();
  }

  static Path cache() {
    return root().resolve(".cache");
  }
}
