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

  /**
   * The key of an OpenAI-compatible request: a completion's {@code prompt} (text, token ids, or a
   * list of either) or a chat's {@code messages}, as the same symbols as a rollout's prompts, so
   * that both kinds of request share prefixes.
   */
  static int[] ofOpenAi(JsonNode prompt) {
    if (prompt == null) {
      return new int[0];
    }
    com.fasterxml.jackson.databind.node.ArrayNode prompts = com.fasterxml.jackson.databind.node.JsonNodeFactory
        .instance.arrayNode();
    if (prompt.isTextual()) {
      prompts.add(prompt);
    } else if (prompt.isArray() && prompt.size() > 0 && prompt.get(0).isObject()) { // chat messages
      prompts.addObject().set("messages", prompt);
    } else if (prompt.isArray() && prompt.size() > 0 && prompt.get(0).isNumber()) { // one prompt of token ids
      prompts.addObject().set("token_ids", prompt);
    } else if (prompt.isArray()) {
      prompt.forEach(p -> {
        if (p.isArray()) {
          prompts.addObject().set("token_ids", p);
        } else {
          prompts.add(p);
        }
      });
    }
    return of(prompts);
  }

  private static void text(IntArrayList key, String s) {
    s.codePoints().forEach(key::add);
  }
}
