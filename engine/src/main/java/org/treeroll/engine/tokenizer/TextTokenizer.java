package org.treeroll.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import it.unimi.dsi.fastutil.ints.IntLinkedOpenHashSet;
import it.unimi.dsi.fastutil.objects.Object2IntOpenHashMap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.tree.TreeRollException;

/**
 * A HF tokenizer.json with its tokenizer and generation configs. Byte-level BPE tokenizers (Qwen,
 * Llama 3, GPT-2 style) are read into Java ({@link ByteLevelBpe}); any other kind goes through
 * DJL's binding of the Rust tokenizers ({@link RustTokenizer}), which the log says with the
 * reason. Special tokens written in the text (e.g. {@code <|im_start|>}) encode to their single ids.
 */
public final class TextTokenizer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(TextTokenizer.class);
  private final TokenCodec codec;
  private final SpecialTokens special;
  private final int[] addedIds;
  private final int padId;
  private final PromptSpecials promptSpecials;

  private TextTokenizer(TokenCodec codec, SpecialTokens special, int[] addedIds, int padId,
      PromptSpecials promptSpecials) {
    this.codec = codec;
    this.special = special;
    this.addedIds = addedIds;
    this.padId = padId;
    this.promptSpecials = promptSpecials;
  }

  /**
   * Which special tokens a text prompt gets, as HF's {@code encode(text)} gives them: the
   * {@code add_bos_token} / {@code add_eos_token} of tokenizer_config.json when it sets either
   * (null: that one is not set), else whatever tokenizer.json's post-processor adds.
   */
  private record PromptSpecials(Boolean addBos, Boolean addEos) {
    boolean fromConfig() {
      return addBos != null || addEos != null;
    }
  }

  /** Loads {@code dir/tokenizer.json} with the optional tokenizer and generation configs. */
  public static TextTokenizer load(Path dir) {
    Path file = dir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new TreeRollException(file + ": file not found");
    }
    JsonNode json = readJson(file);
    Object2IntOpenHashMap<String> added = addedTokens(json);
    Path tcFile = dir.resolve("tokenizer_config.json");
    JsonNode tc = Files.isRegularFile(tcFile) ? readJson(tcFile) : null;
    SpecialTokens special = readSpecialTokens(dir, tc, added);
    PromptSpecials prompt = new PromptSpecials(flag(tc, "add_bos_token"), flag(tc, "add_eos_token"));
    try {
      return new TextTokenizer(codec(file, json), special, added.values().intStream().sorted().toArray(), padId(special, added),
          prompt);
    } catch (IOException | RuntimeException e) {
      throw new TreeRollException(file + ": cannot load tokenizer: " + e.getMessage(), e);
    }
  }

  /** Java's byte-level BPE where it reads the file, else the Rust tokenizers, saying why. */
  private static TokenCodec codec(Path file, JsonNode json) throws IOException {
    try {
      return ByteLevelBpe.of(json);
    } catch (ByteLevelBpe.Unsupported e) {
      LOG.info("tokenizer: {} goes through the Rust tokenizers (the Java byte-level BPE does not read it: {})",
          file, e.getMessage());
      return new RustTokenizer(file);
    }
  }

  /**
   * The ids of {@code text} alone, no special tokens added (special tokens written in it still
   * encode to their ids): for text that already carries them, such as a rendered chat template.
   */
  public int[] encode(String text) {
    return codec.encode(text, false);
  }

  /**
   * A text prompt's ids with the special tokens the checkpoint's tokenizer adds around a text
   * (Llama 3's {@code <|begin_of_text|>}; nothing for Qwen): tokenizer_config.json's
   * {@code add_bos_token} and {@code add_eos_token} when it sets them, else tokenizer.json's
   * post-processor. A BOS the text already begins with is not doubled.
   */
  public int[] encodePrompt(String text) {
    if (!promptSpecials.fromConfig()) {
      int[] ids = codec.encode(text, true);
      int bos = bosIdOrMinus1();
      // The post-processor put BOS before a text that already began with it: drop the copy.
      boolean doubled = bos >= 0 && ids.length > 1 && ids[0] == bos && ids[1] == bos;
      return doubled ? Arrays.copyOfRange(ids, 1, ids.length) : ids;
    }
    int[] ids = encode(text);
    int bos = bosIdOrMinus1();
    boolean addBos = Boolean.TRUE.equals(promptSpecials.addBos()) && bos >= 0 && (ids.length == 0 || ids[0] != bos);
    int eos = special.eosToken() == null ? -1 : tokenId(special.eosToken());
    boolean addEos = Boolean.TRUE.equals(promptSpecials.addEos()) && eos >= 0;
    int[] out = new int[ids.length + (addBos ? 1 : 0) + (addEos ? 1 : 0)];
    if (addBos) {
      out[0] = bos;
    }
    System.arraycopy(ids, 0, out, addBos ? 1 : 0, ids.length);
    if (addEos) {
      out[out.length - 1] = eos;
    }
    return out;
  }

  /** The id of tokenizer_config.json's bos_token, else the configured BOS id, else -1. */
  private int bosIdOrMinus1() {
    int byText = special.bosToken() == null ? -1 : tokenId(special.bosToken());
    return byText >= 0 ? byText : special.bosId();
  }

  /** The single id {@code token} encodes to, or -1 when it is not one token. */
  private int tokenId(String token) {
    int[] ids = encode(token);
    return ids.length == 1 ? ids[0] : -1;
  }

  private static Boolean flag(JsonNode tc, String field) {
    JsonNode v = tc == null ? null : tc.get(field);
    return v == null || !v.isBoolean() ? null : v.asBoolean();
  }

  public String decode(int[] ids, boolean skipSpecialTokens) {
    return codec.decode(ids, skipSpecialTokens);
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
    codec.close();
  }

  /** Content to id of tokenizer.json's added tokens (the special tokens live there). */
  private static Object2IntOpenHashMap<String> addedTokens(JsonNode tokenizerJson) {
    Object2IntOpenHashMap<String> ids = new Object2IntOpenHashMap<>();
    ids.defaultReturnValue(-1);
    for (JsonNode t : tokenizerJson.path("added_tokens")) {
      ids.put(t.path("content").asText(), t.path("id").asInt());
    }
    return ids;
  }

  /** {@code tc}: tokenizer_config.json, or null where there is none. */
  private static SpecialTokens readSpecialTokens(Path dir, JsonNode tc, Object2IntOpenHashMap<String> added) {
    Path gcFile = dir.resolve("generation_config.json");
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
