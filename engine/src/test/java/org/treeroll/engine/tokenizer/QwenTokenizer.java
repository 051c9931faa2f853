package org.treeroll.engine.tokenizer;

import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the real Qwen3 (and Llama 3) tokenizers are: fetched by scripts/fetch-tokenizers.sh (which
 * the test command runs) into .cache/tokenizers/, never committed. Missing means a broken setup, so
 * tests fail rather than skip.
 */
public final class QwenTokenizer {
  private QwenTokenizer() {}

  public static Path dir() {
    return fetched("qwen3");
  }

  /** Llama 3's, fetched the same way into .cache/tokenizers/llama3. */
  public static Path llama3Dir() {
    return fetched("llama3");
  }

  private static Path fetched(String name) {
    String base = System.getProperty("treeroll.tokenizers.dir");
    Path dir = Path.of(base == null ? ".cache/tokenizers" : base).resolve(name);
    if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
      fail(name + " tokenizer not found at " + dir.toAbsolutePath() + "; run scripts/fetch-tokenizers.sh");
    }
    return dir;
  }
}
