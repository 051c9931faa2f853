package org.treeroll.tree;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Writes a file so that readers see the old file or the whole new one, never a part: the content
 * goes to a temporary file in the same directory, which is then renamed over the target.
 */
public final class AtomicFile {
  /** Writes the whole content into {@code tmp}. */
  @FunctionalInterface
  public interface Content {
    void writeTo(Path tmp) throws IOException;
  }

  /** The name {@link Files#createTempFile} gives: the target's name, digits, ".tmp". */
  private static final Pattern STALE = Pattern.compile(".+\\d+\\.tmp");

  private AtomicFile() {}

  public static void write(Path file, Content content) {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = null;
    try {
      Files.createDirectories(dir);
      tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
      content.writeTo(tmp);
      // Temporary files are private (0600); the result should read like any file the user writes.
      if (Files.getFileStore(tmp).supportsFileAttributeView("posix")) {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
      }
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new TreeRollException(file + ": cannot write: " + e.getMessage(), e);
    } finally {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // best effort: the leftover is named after the target
        }
      }
    }
  }

  /**
   * Removes what {@link #write} leaves behind when the process dies mid-write: files named
   * {@code <target><digits>.tmp} in {@code dir}, for targets starting with one of {@code prefixes}
   * (so a user's own .tmp files in the folder are left alone). A writer of a folder calls it when
   * it starts. Returns how many were removed.
   */
  public static int removeStale(Path dir, List<String> prefixes) {
    if (!Files.isDirectory(dir)) {
      return 0;
    }
    int removed = 0;
    try (var files = Files.list(dir)) {
      for (Path f : files.toList()) {
        String n = f.getFileName().toString();
        if (STALE.matcher(n).matches() && prefixes.stream().anyMatch(n::startsWith) && Files.isRegularFile(f)) {
          Files.deleteIfExists(f);
          removed++;
        }
      }
    } catch (IOException e) {
      throw new TreeRollException(dir + ": cannot remove stale temporary files: " + e.getMessage(), e);
    }
    return removed;
  }
}
