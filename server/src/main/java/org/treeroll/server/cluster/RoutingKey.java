package org.treeroll.server.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import it.unimi.dsi.fastutil.ints.IntArrayList;

/**
 * What the router matches against its prefix trees: a request's prompts as one sequence of
 * symbols. Text counts by code point (the router holds no tokenizer; SGLang's router also
 * matches text); token ids pass as they are, marked apart from text. Prompts the engine will
 * refuse still give a key: the engine's 400 is what the client gets.
 */
final class RoutingKey {
  private static final int TOKENS = -1;
  private static final int MESSAGE = -2;
  private static final int PROMPT = -3;

  private RoutingKey() {}

  static int[] of(JsonNode prompts) {
    IntArrayList key = new IntArrayList();
    if (prompts == null || !prompts.isArray()) {
      return key.toIntArray();
    }
    for (JsonNode p : prompts) {
      if (!key.isEmpty()) {
        key.add(PROMPT);
      }
      if (p.isTextual()) {
        text(key, p.asText());
      } else if (p.path("text").isTextual()) {
        text(key, p.get("text").asText());
      } else if (p.path("token_ids").isArray()) {
        key.add(TOKENS);
        p.get("token_ids").forEach(t -> key.add(t.asInt()));
      } else if (p.path("messages").isArray()) {
        for (JsonNode m : p.get("messages")) {
          key.add(MESSAGE);
          text(key, m.path("role").asText());
          key.add(MESSAGE);
          text(key, m.path("content").asText());
        }
      }
    }
    return key.toIntArray();
  }

  private static void text(IntArrayList key, String s) {
    s.codePoints().forEach(key::add);
  }
}
