package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.treeroll.engine.sampling.LogitAdjustments;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.StopStrings;

/**
 * The sampling controls both APIs take, with OpenAI's names ({@code stop},
 * {@code presence_penalty}, {@code frequency_penalty}, {@code logit_bias}) and vLLM's
 * ({@code min_p}, {@code repetition_penalty}, {@code include_stop_str_in_output}), and TreeRoll's
 * {@code batch_invariant}, each checked
 * and named in errors (docs/http-api.md).
 */
final class SamplingFields {
  static final Set<String> NAMES = Set.of("stop", "include_stop_str_in_output", "min_p", "repetition_penalty",
      "presence_penalty", "frequency_penalty", "logit_bias", "batch_invariant");
  static final int MAX_STOPS = 4;
  static final int MAX_STOP_LENGTH = 1024;
  static final int MAX_BIASED = 1024;

  private SamplingFields() {}

  /** {@code base} with the controls {@code f} gives. */
  static SamplingParams apply(JsonFields f, SamplingParams base, int vocab) {
    LogitAdjustments adjustments = new LogitAdjustments(
        f.number("repetition_penalty", 1, Double.MIN_VALUE, 100),
        f.number("presence_penalty", 0, -2, 2),
        f.number("frequency_penalty", 0, -2, 2),
        logitBias(f, vocab));
    return base.withMinP(f.number("min_p", 0, 0, 1))
        .withStop(new StopStrings(stops(f), f.bool("include_stop_str_in_output", false)))
        .withAdjustments(adjustments)
        .withBatchInvariant(f.bool("batch_invariant", false));
  }

  private static List<String> stops(JsonFields f) {
    JsonNode s = f.get("stop");
    List<String> out = new ArrayList<>();
    if (s == null) {
      return out;
    }
    if (s.isTextual()) {
      out.add(stop(s, f.path("stop")));
    } else if (s.isArray()) {
      if (s.size() > MAX_STOPS) {
        throw ApiError.badRequest(f.path("stop"), "at most " + MAX_STOPS + " stop strings, got " + s.size());
      }
      for (int i = 0; i < s.size(); i++) {
        out.add(stop(s.get(i), f.path("stop") + "[" + i + "]"));
      }
    } else {
      throw ApiError.badRequest(f.path("stop"), "expected a string or an array of up to " + MAX_STOPS
          + " strings, got " + JsonFields.kind(s));
    }
    return out;
  }

  private static String stop(JsonNode v, String path) {
    if (!v.isTextual()) {
      throw ApiError.badRequest(path, "expected a string, got " + JsonFields.kind(v));
    }
    if (v.asText().isEmpty()) {
      throw ApiError.badRequest(path, "is empty");
    }
    if (v.asText().length() > MAX_STOP_LENGTH) {
      throw ApiError.badRequest(path, "longer than " + MAX_STOP_LENGTH + " characters");
    }
    return v.asText();
  }

  /** {@code {"token id": bias}}: ids in the vocabulary, biases in [-100, 100], as OpenAI's. */
  private static Map<Integer, Double> logitBias(JsonFields f, int vocab) {
    JsonNode b = f.get("logit_bias");
    Map<Integer, Double> out = new HashMap<>();
    if (b == null) {
      return out;
    }
    String path = f.path("logit_bias");
    if (!b.isObject()) {
      throw ApiError.badRequest(path, "expected an object of token id to bias, got " + JsonFields.kind(b));
    }
    if (b.size() > MAX_BIASED) {
      throw ApiError.badRequest(path, "at most " + MAX_BIASED + " tokens, got " + b.size());
    }
    for (var it = b.properties().iterator(); it.hasNext(); ) {
      var e = it.next();
      String at = path + "." + e.getKey();
      int id;
      try {
        id = Integer.parseInt(e.getKey());
      } catch (NumberFormatException x) {
        throw ApiError.badRequest(at, "keys must be token ids, got \"" + e.getKey() + "\"");
      }
      if (id < 0 || id >= vocab) {
        throw ApiError.badRequest(at, "token id outside the vocabulary [0, " + vocab + ")");
      }
      JsonNode v = e.getValue();
      if (!v.isNumber() || !(Math.abs(v.asDouble()) <= 100)) {
        throw ApiError.badRequest(at, "expected a number in [-100, 100], got " + v);
      }
      out.put(id, v.asDouble());
    }
    return out;
  }
}
