package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.Set;
import java.util.TreeSet;

/**
 * Strict reading of one JSON object of a request: a field of the wrong type, out of range or not
 * known is refused with an {@link ApiError} naming its path ({@code tree.leaf_budget}), so a typo
 * never silently falls back to a default.
 */
final class JsonFields {
  private final JsonNode node;
  private final String path;

  private JsonFields(JsonNode node, String path) {
    this.node = node;
    this.path = path;
  }

  /** {@code node} must be an object whose fields are all in {@code known}. */
  static JsonFields of(JsonNode node, String path, Set<String> known) {
    if (node == null || !node.isObject()) {
      throw ApiError.badRequest(path.isEmpty() ? null : path, "expected a JSON object, got " + kind(node));
    }
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!known.contains(f)) {
        throw ApiError.badRequest(join(path, f), "unknown field; known fields are " + new TreeSet<>(known));
      }
    }
    return new JsonFields(node, path);
  }

  String path(String field) {
    return join(path, field);
  }

  /** The field's node, or null when absent or JSON null. */
  JsonNode get(String field) {
    JsonNode v = node.get(field);
    return v == null || v.isNull() ? null : v;
  }

  boolean has(String field) {
    return get(field) != null;
  }

  int integer(String field, int dflt, int min, int max) {
    JsonNode v = get(field);
    if (v == null) {
      return dflt;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw ApiError.badRequest(path(field), "expected an integer, got " + kind(v));
    }
    long x = v.asLong();
    if (x < min || x > max) {
      throw ApiError.badRequest(path(field), "must be in [" + min + ", " + max + "], got " + x);
    }
    return (int) x;
  }

  long longValue(String field, long dflt) {
    JsonNode v = get(field);
    if (v == null) {
      return dflt;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw ApiError.badRequest(path(field), "expected a 64-bit integer, got " + kind(v));
    }
    return v.asLong();
  }

  double number(String field, double dflt, double min, double max) {
    JsonNode v = get(field);
    if (v == null) {
      return dflt;
    }
    if (!v.isNumber()) {
      throw ApiError.badRequest(path(field), "expected a number, got " + kind(v));
    }
    double x = v.asDouble();
    if (!(x >= min && x <= max)) {
      throw ApiError.badRequest(path(field), "must be in [" + min + ", " + max + "], got " + v.asText());
    }
    return x;
  }

  boolean bool(String field, boolean dflt) {
    JsonNode v = get(field);
    if (v == null) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw ApiError.badRequest(path(field), "expected true or false, got " + kind(v));
    }
    return v.asBoolean();
  }

  /** A string field of at most {@code maxLength} characters, or {@code dflt}. */
  String string(String field, String dflt, int maxLength) {
    JsonNode v = get(field);
    if (v == null) {
      return dflt;
    }
    if (!v.isTextual()) {
      throw ApiError.badRequest(path(field), "expected a string, got " + kind(v));
    }
    if (v.asText().length() > maxLength) {
      throw ApiError.badRequest(path(field), "longer than " + maxLength + " characters");
    }
    return v.asText();
  }

  /** Token ids in {@code [0, vocab)}, at least one. */
  static int[] tokenIds(JsonNode v, String path, int vocab) {
    if (v == null || !v.isArray()) {
      throw ApiError.badRequest(path, "expected an array of token ids, got " + kind(v));
    }
    if (v.isEmpty()) {
      throw ApiError.badRequest(path, "is empty");
    }
    int[] ids = new int[v.size()];
    for (int i = 0; i < ids.length; i++) {
      JsonNode t = v.get(i);
      if (!t.isIntegralNumber() || !t.canConvertToLong()) {
        throw ApiError.badRequest(path + "[" + i + "]", "expected a token id, got " + kind(t));
      }
      long id = t.asLong();
      if (id < 0 || id >= vocab) {
        throw ApiError.badRequest(path + "[" + i + "]", "token id " + id + " is outside the vocabulary [0, " + vocab + ")");
      }
      ids[i] = (int) id;
    }
    return ids;
  }

  static String kind(JsonNode v) {
    if (v == null || v.isNull() || v.isMissingNode()) {
      return "nothing";
    }
    return switch (v.getNodeType()) {
      case ARRAY -> "an array";
      case OBJECT -> "an object";
      case STRING -> "a string";
      case NUMBER -> "the number " + v.asText();
      case BOOLEAN -> v.asText();
      default -> v.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
    };
  }

  private static String join(String path, String field) {
    return path.isEmpty() ? field : path + "." + field;
  }
}
