package org.treeroll.engine.tokenizer;

import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the real Qwen3 tokenizer is: fetched by scripts/fetch-tokenizers.sh (which the test
 * command runs) into .cache/tokenizers/qwen3, never committed. Missing means a broken setup, so
 * tests fail rather than skip.
 */
public final class QwenTokenizer {
  private QwenTokenizer() {}

  public static Path dir() {
    String base = System.getProperty("treeroll.tokenizers.dir");
    Path dir = Path.of(base == null ? ".cache/tokenizers" : base).resolve("qwen3");
    if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      fail("Qwen3 tokenizer not found at " + dir.toAbsolutePath() + "; run scripts/fetch-tokenizers.sh");
    }
    return dir;
  }
}
