package org.treeroll.engine.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.treeroll.tree.TreeRollException;

/**
 * Writes a tokenizer.json for a byte-level BPE with no merges: ids 0-255 are the bytes (in
 * GPT-2's byte-to-unicode spelling), then the given special tokens. Any UTF-8 text encodes to its
 * bytes and decodes back exactly; it loads through the same HF tokenizer path as a real checkpoint.
 */
public final class ByteLevelTokenizerJson {
  private ByteLevelTokenizerJson() {}

  public static void write(Path file, List<String> specialTokens) {
    ObjectMapper json = new ObjectMapper();
    ObjectNode root = json.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int i = 0; i < specialTokens.size(); i++) {
      added.addObject()
          .put("id", 256 + i)
          .put("content", specialTokens.get(i))
          .put("single_word", false)
          .put("lstrip", false)
          .put("rstrip", false)
          .put("normalized", false)
          .put("special", true);
    }
    root.putNull("normalizer");
    root.putObject("pre_tokenizer")
        .put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false)
        .put("use_regex", false);
    root.putNull("post_processor");
    root.putObject("decoder")
        .put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", false)
        .put("use_regex", false);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    ObjectNode vocab = model.putObject("vocab");
    char[] symbols = byteSymbols();
    for (int b = 0; b < 256; b++) {
      vocab.put(String.valueOf(symbols[b]), b);
    }
    model.putArray("merges");
    try {
      json.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
    } catch (IOException e) {
      throw new TreeRollException(file + ": cannot write: " + e.getMessage(), e);
    }
  }

  /**
   * GPT-2's byte-to-unicode table: printable bytes stand for themselves, the rest map to code
   * points from 256 up, so every byte is a visible, whitespace-free character.
   */
  static char[] byteSymbols() {
    char[] out = new char[256];
    int next = 256;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      out[b] = printable ? (char) b : (char) next++;
    }
    return out;
  }
}
