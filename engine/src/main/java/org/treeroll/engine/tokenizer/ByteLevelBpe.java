package org.treeroll.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import it.unimi.dsi.fastutil.ints.IntOpenHashSet;
import it.unimi.dsi.fastutil.longs.Long2LongOpenHashMap;
import it.unimi.dsi.fastutil.longs.LongHeapPriorityQueue;
import it.unimi.dsi.fastutil.objects.Object2IntOpenHashMap;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A byte-level BPE tokenizer.json (GPT-2's scheme, used by Qwen2/2.5/3 and Llama 3) read into
 * Java arrays: about a quarter of the resident memory the Rust tokenizers take for Qwen's
 * 151k-token vocabulary. It reads what those tokenizers hold: added tokens split out of the raw
 * text first (longest match, leftmost first), an NFC normalizer or none, a Split regex
 * (isolated) and/or the ByteLevel pre-tokenizer, BPE merged by rank (ties leftmost, as HF's
 * merge queue), {@code ignore_merges}, a TemplateProcessing or ByteLevel post-processor, and the
 * ByteLevel decoder. Anything else is refused with the field that holds it ({@link Unsupported}).
 */
final class ByteLevelBpe implements TokenCodec {
  /** GPT-2's pre-tokenizer regex, what the ByteLevel pre-tokenizer applies when {@code use_regex} is set. */
  private static final Pattern GPT2_SPLIT = Pattern.compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
      Pattern.UNICODE_CHARACTER_CLASS);
  private static final char[] BYTE_SYMBOLS = ByteLevelTokenizerJson.byteSymbols();
  /** Byte of each byte-level symbol, by code point; -1 where a character is not one. */
  private static final int[] SYMBOL_BYTES = new int[324];

  static {
    Arrays.fill(SYMBOL_BYTES, -1);
    for (int b = 0; b < 256; b++) {
      SYMBOL_BYTES[BYTE_SYMBOLS[b]] = b;
    }
  }

  /** A tokenizer.json feature this class does not read: the field and what it holds. */
  static final class Unsupported extends Exception {
    Unsupported(String message) {
      super(message);
    }
  }

  private final int[] byteIds; // id of each single-byte token
  private final Long2LongOpenHashMap merges; // (left << 32 | right) -> (rank << 32 | merged id)
  private final Object2IntOpenHashMap<String> wordIds; // whole words (bytes as Latin-1) for ignore_merges, else null
  private final byte[][] idBytes; // what each id decodes to, null where no token has the id
  private final IntOpenHashSet specialIds;
  private final String[] added; // added tokens' contents, longest first
  private final int[] addedIds;
  private final boolean nfc;
  private final Pattern split; // the Split pre-tokenizer's regex, or null
  private final boolean byteLevelRegex; // the ByteLevel pre-tokenizer's use_regex
  private final BitSet addedFirstChars = new BitSet();
  private final int[] prefix; // ids the post-processor puts before a text
  private final int[] suffix; // and after it

  private ByteLevelBpe(int[] byteIds, Long2LongOpenHashMap merges, Object2IntOpenHashMap<String> wordIds,
      byte[][] idBytes, IntOpenHashSet specialIds, String[] added, int[] addedIds, boolean nfc, Pattern split,
      boolean byteLevelRegex, int[] prefix, int[] suffix) {
    this.byteIds = byteIds;
    this.merges = merges;
    this.wordIds = wordIds;
    this.idBytes = idBytes;
    this.specialIds = specialIds;
    this.added = added;
    this.addedIds = addedIds;
    this.nfc = nfc;
    this.split = split;
    this.byteLevelRegex = byteLevelRegex;
    for (String a : added) {
      addedFirstChars.set(a.charAt(0));
    }
    this.prefix = prefix;
    this.suffix = suffix;
  }

  /** Reads a parsed tokenizer.json, or says which of its parts this class does not read. */
  static ByteLevelBpe of(JsonNode json) throws Unsupported {
    JsonNode model = json.path("model");
    if (!"BPE".equals(model.path("type").asText())) {
      throw new Unsupported("model.type is " + model.path("type") + ", not BPE");
    }
    for (String off : new String[] {"dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"}) {
      JsonNode v = model.path(off);
      if (!v.isMissingNode() && !v.isNull() && !(v.isTextual() && v.asText().isEmpty())) {
        throw new Unsupported("model." + off + " is " + v);
      }
    }
    if (model.path("byte_fallback").asBoolean(false)) {
      throw new Unsupported("model.byte_fallback is set (a SentencePiece-style BPE)");
    }
    boolean nfc = normalizer(json.path("normalizer"));
    Pattern[] split = {null};
    boolean[] byteLevel = new boolean[2]; // seen, use_regex
    preTokenizer(json.path("pre_tokenizer"), split, byteLevel);
    if (!byteLevel[0]) {
      throw new Unsupported("pre_tokenizer has no ByteLevel step");
    }
    JsonNode decoder = json.path("decoder");
    if (!"ByteLevel".equals(decoder.path("type").asText())) {
      throw new Unsupported("decoder is " + decoder + ", not ByteLevel");
    }

    JsonNode vocab = model.path("vocab");
    JsonNode addedTokens = json.path("added_tokens");
    int size = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
      size = Math.max(size, it.next().getValue().asInt() + 1);
    }
    for (JsonNode t : addedTokens) {
      size = Math.max(size, t.path("id").asInt() + 1);
    }
    byte[][] idBytes = new byte[size][];
    Object2IntOpenHashMap<String> symbolIds = new Object2IntOpenHashMap<>(vocab.size());
    symbolIds.defaultReturnValue(-1);
    for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      int id = e.getValue().asInt();
      symbolIds.put(e.getKey(), id);
      idBytes[id] = bytesOf(e.getKey());
    }
    int[] byteIds = new int[256];
    for (int b = 0; b < 256; b++) {
      byteIds[b] = symbolIds.getInt(String.valueOf(BYTE_SYMBOLS[b]));
      if (byteIds[b] < 0) {
        throw new Unsupported("model.vocab has no token for byte " + b);
      }
    }
    Long2LongOpenHashMap merges = merges(model.path("merges"), symbolIds);
    Object2IntOpenHashMap<String> wordIds = null;
    if (model.path("ignore_merges").asBoolean(false)) {
      wordIds = new Object2IntOpenHashMap<>(symbolIds.size());
      wordIds.defaultReturnValue(-1);
      for (Object2IntOpenHashMap.Entry<String> e : symbolIds.object2IntEntrySet()) {
        wordIds.put(new String(bytesOf(e.getKey()), StandardCharsets.ISO_8859_1), e.getIntValue());
      }
    }

    List<JsonNode> addedList = new ArrayList<>();
    IntOpenHashSet specialIds = new IntOpenHashSet();
    for (JsonNode t : addedTokens) {
      for (String flag : new String[] {"single_word", "lstrip", "rstrip", "normalized"}) {
        if (t.path(flag).asBoolean(false)) {
          throw new Unsupported("added token " + t.path("content") + " sets " + flag);
        }
      }
      if (t.path("content").asText().isEmpty()) {
        throw new Unsupported("an added token (id " + t.path("id") + ") is empty");
      }
      addedList.add(t);
      idBytes[t.path("id").asInt()] = bytesOf(t.path("content").asText());
      if (t.path("special").asBoolean(false)) {
        specialIds.add(t.path("id").asInt());
      }
    }
    addedList.sort(Comparator.comparingInt((JsonNode t) -> -t.path("content").asText().length()));
    String[] added = new String[addedList.size()];
    int[] addedIds = new int[added.length];
    for (int i = 0; i < added.length; i++) {
      added[i] = addedList.get(i).path("content").asText();
      addedIds[i] = addedList.get(i).path("id").asInt();
    }
    IntArrayList prefix = new IntArrayList();
    IntArrayList suffix = new IntArrayList();
    postProcessor(json.path("post_processor"), prefix, suffix);
    return new ByteLevelBpe(byteIds, merges, wordIds, idBytes, specialIds, added, addedIds, nfc, split[0],
        byteLevel[1], prefix.toIntArray(), suffix.toIntArray());
  }

  private static boolean normalizer(JsonNode n) throws Unsupported {
    if (n.isMissingNode() || n.isNull()) {
      return false;
    }
    if ("NFC".equals(n.path("type").asText())) {
      return true;
    }
    if ("Sequence".equals(n.path("type").asText()) && n.path("normalizers").isEmpty()) {
      return false;
    }
    throw new Unsupported("normalizer is " + n);
  }

  private static void preTokenizer(JsonNode p, Pattern[] split, boolean[] byteLevel) throws Unsupported {
    if (p.isMissingNode() || p.isNull()) {
      return;
    }
    switch (p.path("type").asText()) {
      case "Sequence" -> {
        for (JsonNode step : p.path("pretokenizers")) {
          preTokenizer(step, split, byteLevel);
        }
      }
      case "Split" -> {
        JsonNode regex = p.path("pattern").path("Regex");
        if (split[0] != null || byteLevel[0] || !regex.isTextual() || !"Isolated".equals(p.path("behavior").asText())
            || p.path("invert").asBoolean(false)) {
          throw new Unsupported("pre_tokenizer: a Split other than one isolating regex before ByteLevel: " + p);
        }
        try {
          split[0] = Pattern.compile(regex.asText(), Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
          throw new Unsupported("pre_tokenizer: Java's regex does not read " + regex + ": " + e.getDescription());
        }
      }
      case "ByteLevel" -> {
        if (byteLevel[0]) {
          throw new Unsupported("pre_tokenizer has two ByteLevel steps");
        }
        if (p.path("add_prefix_space").asBoolean(false)) {
          throw new Unsupported("pre_tokenizer: ByteLevel sets add_prefix_space");
        }
        byteLevel[0] = true;
        byteLevel[1] = p.path("use_regex").asBoolean(true);
      }
      default -> throw new Unsupported("pre_tokenizer is " + p.path("type") + ", not ByteLevel, Split or Sequence");
    }
  }

  private static void postProcessor(JsonNode p, IntArrayList prefix, IntArrayList suffix) throws Unsupported {
    if (p.isMissingNode() || p.isNull()) {
      return;
    }
    switch (p.path("type").asText()) {
      case "ByteLevel" -> { } // offsets only
      case "Sequence" -> {
        for (JsonNode step : p.path("processors")) {
          postProcessor(step, prefix, suffix);
        }
      }
      case "TemplateProcessing" -> {
        if (!prefix.isEmpty() || !suffix.isEmpty()) {
          throw new Unsupported("post_processor has two TemplateProcessing steps");
        }
        boolean seenText = false;
        for (JsonNode item : p.path("single")) {
          if (item.has("Sequence")) {
            seenText = true;
            continue;
          }
          String token = item.path("SpecialToken").path("id").asText();
          JsonNode ids = p.path("special_tokens").path(token).path("ids");
          if (ids.isEmpty()) {
            throw new Unsupported("post_processor.special_tokens has no ids for " + token);
          }
          for (JsonNode id : ids) {
            (seenText ? suffix : prefix).add(id.asInt());
          }
        }
      }
      default -> throw new Unsupported("post_processor is " + p.path("type"));
    }
  }

  /** Merge ranks: each merge as "left right" or [left, right], in rank order. */
  private static Long2LongOpenHashMap merges(JsonNode list, Object2IntOpenHashMap<String> ids) throws Unsupported {
    Long2LongOpenHashMap merges = new Long2LongOpenHashMap(list.size());
    merges.defaultReturnValue(-1);
    int rank = 0;
    for (JsonNode m : list) {
      String left;
      String right;
      if (m.isArray() && m.size() == 2) {
        left = m.get(0).asText();
        right = m.get(1).asText();
      } else {
        String s = m.asText();
        int space = s.indexOf(' ');
        if (space < 0 || s.indexOf(' ', space + 1) >= 0) {
          throw new Unsupported("model.merges[" + rank + "] is " + m + ", not two symbols");
        }
        left = s.substring(0, space);
        right = s.substring(space + 1);
      }
      int a = ids.getInt(left);
      int b = ids.getInt(right);
      int merged = ids.getInt(left + right);
      if (a < 0 || b < 0 || merged < 0) {
        throw new Unsupported("model.merges[" + rank + "] " + m + " joins symbols not in model.vocab");
      }
      merges.putIfAbsent(pair(a, b), (long) rank << 32 | merged);
      rank++;
    }
    return merges;
  }

  private static long pair(int a, int b) {
    return (long) a << 32 | (b & 0xffffffffL);
  }

  /**
   * What a token decodes to, as the ByteLevel decoder does it: its byte-level symbols as bytes,
   * or its UTF-8 where a character is not one.
   */
  private static byte[] bytesOf(String token) {
    byte[] out = new byte[token.length()];
    for (int i = 0; i < out.length; i++) {
      char c = token.charAt(i);
      int b = c < SYMBOL_BYTES.length ? SYMBOL_BYTES[c] : -1;
      if (b < 0) {
        return token.getBytes(StandardCharsets.UTF_8);
      }
      out[i] = (byte) b;
    }
    return out;
  }

  @Override
  public int[] encode(String text, boolean withPostProcessor) {
    IntArrayList out = new IntArrayList();
    if (withPostProcessor) {
      out.addElements(0, prefix);
    }
    int from = 0;
    for (int i = 0; i < text.length(); ) {
      int a = addedAt(text, i);
      if (a < 0) {
        i++;
        continue;
      }
      encodeText(text.substring(from, i), out);
      out.add(addedIds[a]);
      i += added[a].length();
      from = i;
    }
    encodeText(text.substring(from), out);
    if (withPostProcessor) {
      out.addElements(out.size(), suffix);
    }
    return out.toIntArray();
  }

  /** The longest added token that starts at {@code i}, as an index into {@link #added}, or -1. */
  private int addedAt(String text, int i) {
    if (!addedFirstChars.get(text.charAt(i))) {
      return -1;
    }
    for (int a = 0; a < added.length; a++) {
      if (text.startsWith(added[a], i)) {
        return a;
      }
    }
    return -1;
  }

  /** Text without added tokens: normalize, pre-tokenize, then BPE each piece. */
  private void encodeText(String text, IntArrayList out) {
    if (text.isEmpty()) {
      return;
    }
    String s = nfc ? Normalizer.normalize(text, Normalizer.Form.NFC) : text;
    if (split == null) {
      byteLevel(s, out);
      return;
    }
    forEachPiece(split, s, piece -> byteLevel(piece, out));
  }

  /** The ByteLevel pre-tokenizer on one piece, then BPE. */
  private void byteLevel(String piece, IntArrayList out) {
    if (byteLevelRegex) {
      forEachPiece(GPT2_SPLIT, piece, word -> bpe(word.getBytes(StandardCharsets.UTF_8), out));
    } else {
      bpe(piece.getBytes(StandardCharsets.UTF_8), out);
    }
  }

  /** Every match of {@code regex} and every stretch between matches, in order (HF's Isolated split). */
  private static void forEachPiece(Pattern regex, String s, Consumer<String> piece) {
    Matcher m = regex.matcher(s);
    int last = 0;
    while (m.find()) {
      if (m.start() > last) {
        piece.accept(s.substring(last, m.start()));
      }
      if (m.end() > m.start()) {
        piece.accept(s.substring(m.start(), m.end()));
      }
      last = m.end();
    }
    if (last < s.length()) {
      piece.accept(s.substring(last));
    }
  }

  /**
   * BPE over one word's bytes: repeatedly apply the lowest-ranked merge among adjacent symbols,
   * the leftmost first among equals, through a queue of candidate merges (O(n log n)).
   */
  private void bpe(byte[] word, IntArrayList out) {
    if (word.length == 0) {
      return;
    }
    if (wordIds != null) {
      int whole = wordIds.getInt(new String(word, StandardCharsets.ISO_8859_1));
      if (whole >= 0) {
        out.add(whole);
        return;
      }
    }
    int n = word.length;
    int[] ids = new int[n];
    int[] next = new int[n];
    int[] prev = new int[n];
    for (int i = 0; i < n; i++) {
      ids[i] = byteIds[word[i] & 0xff];
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    LongHeapPriorityQueue queue = new LongHeapPriorityQueue();
    for (int i = 0; i + 1 < n; i++) {
      offer(queue, ids[i], ids[i + 1], i);
    }
    while (!queue.isEmpty()) {
      long top = queue.dequeueLong();
      int at = (int) top;
      int r = ids[at] < 0 ? -1 : next[at];
      if (r < 0) {
        continue;
      }
      long m = merges.get(pair(ids[at], ids[r]));
      if (m < 0 || (m >>> 32) != (top >>> 32)) {
        continue; // the pair at this position changed since it was queued
      }
      ids[at] = (int) m;
      ids[r] = -1;
      next[at] = next[r];
      if (next[r] >= 0) {
        prev[next[r]] = at;
      }
      if (prev[at] >= 0) {
        offer(queue, ids[prev[at]], ids[at], prev[at]);
      }
      if (next[at] >= 0) {
        offer(queue, ids[at], ids[next[at]], at);
      }
    }
    for (int i = 0; i >= 0; i = next[i]) {
      out.add(ids[i]);
    }
  }

  /** Queues the merge of {@code (a, b)} at position {@code at}, if there is one: rank, then position. */
  private void offer(LongHeapPriorityQueue queue, int a, int b, int at) {
    long m = merges.get(pair(a, b));
    if (m >= 0) {
      queue.enqueue((m >>> 32) << 32 | at);
    }
  }

  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    for (int id : ids) {
      if (id < 0 || id >= idBytes.length || idBytes[id] == null || (skipSpecialTokens && specialIds.contains(id))) {
        continue;
      }
      bytes.writeBytes(idBytes[id]);
    }
    return utf8Lossy(bytes.toByteArray());
  }

  /**
   * {@code bytes} as UTF-8, each maximal ill-formed subpart (Unicode 3.9, U+FFFD substitution of
   * maximal subparts) as one U+FFFD: what Rust's {@code String::from_utf8_lossy} gives, which
   * the JDK's decoder does not always match.
   */
  static String utf8Lossy(byte[] bytes) {
    StringBuilder out = new StringBuilder(bytes.length);
    int i = 0;
    while (i < bytes.length) {
      int b = bytes[i] & 0xff;
      if (b < 0x80) {
        out.append((char) b);
        i++;
        continue;
      }
      int need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
      if (need < 0) {
        out.append('\ufffd');
        i++;
        continue;
      }
      int cp = b & (0x3f >> need);
      int j = i + 1;
      for (int k = 0; k < need; k++, j++) {
        int c = j < bytes.length ? bytes[j] & 0xff : -1;
        // The second byte's range depends on the lead: no overlongs, no surrogates, nothing past U+10FFFF.
        int lo = k > 0 ? 0x80 : b == 0xe0 ? 0xa0 : b == 0xf0 ? 0x90 : 0x80;
        int hi = k > 0 ? 0xbf : b == 0xed ? 0x9f : b == 0xf4 ? 0x8f : 0xbf;
        if (c < lo || c > hi) {
          break;
        }
        cp = cp << 6 | (c & 0x3f);
      }
      if (j - i == need + 1) {
        out.appendCodePoint(cp);
      } else {
        out.append('\ufffd');
      }
      i = j;
    }
    return out.toString();
  }

  @Override
  public void close() {}
}
