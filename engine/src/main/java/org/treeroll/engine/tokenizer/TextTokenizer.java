package org.treeroll.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import it.unimi.dsi.fastutil.ints.IntLinkedOpenHashSet;
import it.unimi.dsi.fastutil.objects.Object2IntOpenHashMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.treeroll.tree.TreeRollException;

/**
 * A HF tokenizer.json through DJL's binding of the Rust tokenizers, configured for LLMs: DJL's
 * defaults suit BERT (truncate at 512, pad, add [CLS]/[SEP]), so truncation, padding and added
 * special tokens are all off. Special tokens written in the text (e.g. {@code <|im_start|>})
 * still encode to their single ids.
 */
public final class TextTokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer hf;
  private final SpecialTokens special;
  private final int[] addedIds;
  private final int padId;

  private TextTokenizer(HuggingFaceTokenizer hf, SpecialTokens special, int[] addedIds, int padId) {
    this.hf = hf;
    this.special = special;
    this.addedIds = addedIds;
    this.padId = padId;
  }

  /** Loads {@code dir/tokenizer.json} with the optional tokenizer and generation configs. */
  public static TextTokenizer load(Path dir) {
    Path file = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new TreeRollException(file + ": file not found");
    }
    if (System.getProperty("OPT_OUT_TRACKING") == null) {
      System.setProperty("OPT_OUT_TRACKING", "true"); // no usage report over the network
    }
    Object2IntOpenHashMap<String> added = addedTokens(file);
    SpecialTokens special = readSpecialTokens(dir, added);
    try {
      HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder()
          .optTokenizerPath(file)
          .optAddSpecialTokens(false)
          .optTruncation(false)
          .optPadding(false)
          .build();
      return new TextTokenizer(hf, special, added.values().intStream().sorted().toArray(), padId(special, added));
    } catch (IOException | RuntimeException e) {
      throw new TreeRollException(file + ": cannot load tokenizer: " + e.getMessage(), e);
    }
  }

  public int[] encode(String text) {
    long[] ids = hf.encode(text, false, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  public String decode(int[] ids, boolean skipSpecialTokens) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return hf.decode(l, skipSpecialTokens);
  }

  public SpecialTokens special() {
    return special;
  }

  /**
   * The id padding is written with: the pad token's, else the first eos id (what verl sets when a
   * tokenizer has no pad token); -1 when there is neither.
   */
  public int padId() {
    return padId;
  }

  private static int padId(SpecialTokens special, Object2IntOpenHashMap<String> added) {
    int pad = special.padToken() == null ? -1 : added.getInt(special.padToken());
    int[] eos = special.eosIds();
    return pad >= 0 ? pad : eos.length > 0 ? eos[0] : -1;
  }

  /**
   * Ids of tokenizer.json's added tokens, ascending: the special tokens and any others added on
   * top of the base vocabulary (e.g. Qwen's {@code <think>}).
   */
  public int[] addedTokenIds() {
    return addedIds.clone();
  }

  @Override
  public void close() {
    hf.close();
  }

  /** Content to id of tokenizer.json's added tokens (the special tokens live there). */
  private static Object2IntOpenHashMap<String> addedTokens(Path file) {
    Object2IntOpenHashMap<String> ids = new Object2IntOpenHashMap<>();
    ids.defaultReturnValue(-1);
    for (JsonNode t : readJson(file).path("added_tokens")) {
      ids.put(t.path("content").asText(), t.path("id").asInt());
    }
    return ids;
  }

  private static SpecialTokens readSpecialTokens(Path dir, Object2IntOpenHashMap<String> added) {
    Path tcFile = dir.resolve("tokenizer_config.json");
    Path gcFile = dir.resolve("generation_config.json");
    JsonNode tc = Files.isRegularFile(tcFile) ? readJson(tcFile) : null;
    JsonNode gc = Files.isRegularFile(gcFile) ? readJson(gcFile) : null;
    String bos = tc == null ? null : tokenText(tc.get("bos_token"));
    String eos = tc == null ? null : tokenText(tc.get("eos_token"));
    String pad = tc == null ? null : tokenText(tc.get("pad_token"));
    IntLinkedOpenHashSet eosIds = new IntLinkedOpenHashSet();
    if (gc != null) {
      JsonNode e = gc.path("eos_token_id");
      if (e.isInt()) {
        eosIds.add(e.asInt());
      } else {
        e.forEach(n -> eosIds.add(n.asInt()));
      }
    }
    if (eos != null && added.getInt(eos) >= 0) {
      eosIds.add(added.getInt(eos));
    }
    int bosId = gc != null && gc.path("bos_token_id").isInt() ? gc.get("bos_token_id").asInt()
        : (bos != null ? added.getInt(bos) : -1);
    return new SpecialTokens(bosId, eosIds.toIntArray(), bos, eos, pad, chatTemplate(tc));
  }

  /** A token is written as a string or as an object with "content". */
  private static String tokenText(JsonNode n) {
    if (n == null || n.isNull()) {
      return null;
    }
    return n.isObject() ? n.path("content").asText(null) : n.asText();
  }

  /** A string, or a list of named templates of which "default" is the chat one. */
  private static String chatTemplate(JsonNode tc) {
    JsonNode t = tc == null ? null : tc.get("chat_template");
    if (t == null || t.isNull()) {
      return null;
    }
    if (t.isTextual()) {
      return t.asText();
    }
    for (JsonNode named : t) {
      if ("default".equals(named.path("name").asText())) {
        return named.path("template").asText();
      }
    }
    return null;
  }

  private static JsonNode readJson(Path file) {
    try {
      return new ObjectMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new TreeRollException(file + ": not valid JSON: " + e.getMessage(), e);
    }
  }
}
