package org.treeroll.tree;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
  @TempDir Path dir;

  @Test
  void writesWholeFilesAndLeavesNoTemporaryFile() throws Exception {
    Path f = dir.resolve("a.json");
    AtomicFile.write(f, tmp -> Files.writeString(tmp, "{}"));
    assertThat(f).hasContent("{}");
    try (var files = Files.list(dir)) {
      assertThat(files.toList()).containsExactly(f);
    }
  }

  @Test
  void removesOnlyTheLeftoversOfItsTargets() throws Exception {
    Path stale = Files.writeString(dir.resolve("train.parquet8812345.tmp"), "half");
    Path staleManifest = Files.writeString(dir.resolve("manifest.json1.tmp"), "");
    Path users = Files.writeString(dir.resolve("notes.tmp"), "mine");
    Path otherTarget = Files.writeString(dir.resolve("other.csv77.tmp"), "not ours");
    Path noDigits = Files.writeString(dir.resolve("train.parquet.tmp"), "not a temp name");
    assertThat(AtomicFile.removeStale(dir, List.of("train.parquet", "manifest.json"))).isEqualTo(2);
    assertThat(stale).doesNotExist();
    assertThat(staleManifest).doesNotExist();
    assertThat(users).exists();
    assertThat(otherTarget).exists();
    assertThat(noDigits).exists();
    assertThat(AtomicFile.removeStale(dir.resolve("absent"), List.of("x"))).isZero();
  }
}
