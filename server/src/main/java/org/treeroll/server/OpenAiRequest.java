package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.sampling.SamplingParams;

/**
 * A {@code POST /v1/completions} or {@code /v1/chat/completions} body, read strictly
 * (docs/http-api.md): OpenAI's fields, each checked and named in errors; OpenAI fields this server
 * does not implement are refused unless given their neutral value; unknown fields are refused.
 *
 * @param chat whether it came as a chat completion
 * @param prompts token ids of each prompt (a chat has one)
 * @param n answers per prompt
 * @param sampling temperature, top_p, max_tokens, seed, the top candidates to record, stop
 *     strings, min-p, penalties and logit bias
 * @param logprobs whether to answer log-probs (legacy completions: {@code logprobs} given; chat:
 *     {@code logprobs: true})
 * @param stream server-sent events instead of one JSON answer
 * @param includeUsage a last stream chunk with the usage ({@code stream_options.include_usage})
 */
record OpenAiRequest(boolean chat, List<int[]> prompts, int n, SamplingParams sampling,
    boolean logprobs, boolean stream, boolean includeUsage) {

  static final int MAX_N = 128;
  static final int MAX_TOP_LOGPROBS = 20;
  /** Answers (prompts times n) one request may ask for. */
  static final int MAX_ANSWERS = 4096;

  private static final Set<String> SHARED = union(SamplingFields.NAMES, "model", "n", "temperature", "top_p",
      "max_tokens", "seed", "logprobs", "stream", "stream_options", "user");
  private static final Set<String> COMPLETION = union(SHARED, "prompt", "best_of", "echo", "suffix");
  private static final Set<String> CHAT = union(SHARED, "messages", "max_completion_tokens", "top_logprobs",
      "response_format", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls", "store",
      "metadata", "service_tier", "modalities", "audio", "prediction", "reasoning_effort", "web_search_options",
      "verbosity", "prompt_cache_key", "safety_identifier", "add_generation_prompt", "chat_template_kwargs");
  private static final Set<String> MESSAGE =
      Set.of("role", "content", "name", "refusal", "tool_calls", "function_call", "tool_call_id", "audio");
  private static final Set<String> ROLES = Set.of("system", "user", "assistant");
  private static final Set<String> TEXT_PART = Set.of("type", "text");
  private static final Set<String> STREAM_OPTIONS = Set.of("include_usage");
  /** OpenAI's default for the legacy endpoint. */
  static final int DEFAULT_COMPLETION_TOKENS = 16;

  static OpenAiRequest completion(JsonNode body, LoadedModel model, String modelId, ServerOptions options) {
    JsonFields f = JsonFields.of(body, "", COMPLETION);
    checkModel(f, modelId);
    refuseUnless(f, "echo", v -> v.isBoolean() && !v.asBoolean(), "echo: true is not supported (the prompt is"
        + " not scored back); leave it out");
    refuseUnless(f, "suffix", v -> v.isTextual() && v.asText().isEmpty(), "suffix (insertion) is not supported");
    List<int[]> prompts = completionPrompts(f, model, options);
    int n = answers(f, prompts.size());
    if (f.has("best_of") && f.integer("best_of", n, 1, MAX_N) != n) {
      throw ApiError.badRequest("best_of", "best_of other than n is not supported (every answer sampled is returned)");
    }
    int maxPos = model.config().maxPositionEmbeddings();
    int maxTokens = f.integer("max_tokens", DEFAULT_COMPLETION_TOKENS, 1, maxPos);
    fitsContext(prompts, maxTokens, maxPos, "max_tokens");
    int top = -1;
    if (f.has("logprobs")) {
      top = f.integer("logprobs", 0, 0, MAX_TOP_LOGPROBS);
    }
    return finish(f, false, prompts, n, maxTokens, top, model.config().vocabSize());
  }

  static OpenAiRequest chat(JsonNode body, LoadedModel model, String modelId, ServerOptions options,
      ChatTemplate template) {
    JsonFields f = JsonFields.of(body, "", CHAT);
    checkModel(f, modelId);
    refuseUnsupportedChatFields(f);
    List<ChatTemplate.Message> messages = messages(f);
    String text = template.render(messages, chatOptions(f));
    int[] prompt = model.tokenizer().encode(text);
    if (prompt.length == 0) {
      throw ApiError.badRequest("messages", "render to no tokens");
    }
    if (prompt.length > options.maxPromptTokens()) {
      throw new ApiError(413, "messages", "render to " + prompt.length + " tokens; at most "
          + options.maxPromptTokens() + " per request");
    }
    List<int[]> prompts = List.of(prompt);
    int n = answers(f, 1);
    int maxPos = model.config().maxPositionEmbeddings();
    if (prompt.length >= maxPos) {
      throw ApiError.badRequest("messages", "render to " + prompt.length
          + " tokens, which leaves no room in the model's context of " + maxPos);
    }
    if (f.has("max_tokens") && f.has("max_completion_tokens")) {
      throw ApiError.badRequest("max_completion_tokens", "give max_completion_tokens or max_tokens, not both");
    }
    String limitField = f.has("max_tokens") ? "max_tokens" : "max_completion_tokens";
    int maxTokens = f.integer(limitField, maxPos - prompt.length, 1, maxPos);
    fitsContext(prompts, maxTokens, maxPos, limitField);
    boolean logprobs = f.bool("logprobs", false);
    if (f.has("top_logprobs") && !logprobs) {
      throw ApiError.badRequest("top_logprobs", "needs logprobs: true");
    }
    int top = logprobs ? f.integer("top_logprobs", 0, 0, MAX_TOP_LOGPROBS) : -1;
    return finish(f, true, prompts, n, maxTokens, top, model.config().vocabSize());
  }

  /** The fields both endpoints share, read last. */
  private static OpenAiRequest finish(JsonFields f, boolean chat, List<int[]> prompts, int n, int maxTokens,
      int top, int vocab) {
    double temperature = f.number("temperature", 1.0, 0, 2);
    double topP = f.number("top_p", 1.0, 0, 1);
    if (topP == 0) {
      throw ApiError.badRequest("top_p", "must be in (0, 1], got 0");
    }
    // Without a seed every request samples afresh, as OpenAI's do.
    long seed = f.has("seed") ? f.longValue("seed", 0) : ThreadLocalRandom.current().nextLong();
    f.string("user", null, 256); // accepted and not used
    boolean stream = f.bool("stream", false);
    boolean usage = false;
    JsonNode so = f.get("stream_options");
    if (so != null) {
      if (!stream) {
        throw ApiError.badRequest("stream_options", "is only allowed with stream: true");
      }
      usage = JsonFields.of(so, "stream_options", STREAM_OPTIONS).bool("include_usage", false);
    }
    SamplingParams sampling = SamplingFields.apply(f,
        new SamplingParams(temperature, topP, 0, maxTokens, new int[0], seed, Math.max(0, top), false), vocab);
    return new OpenAiRequest(chat, prompts, n, sampling, top >= 0, stream, usage);
  }

  private static void checkModel(JsonFields f, String modelId) {
    String m = f.string("model", null, 256);
    if (m != null && !m.equals(modelId)) {
      throw new ApiError(404, "model", "the model '" + m + "' is not served here; GET /v1/models lists '"
          + modelId + "'");
    }
  }

  private static int answers(JsonFields f, int prompts) {
    int n = f.integer("n", 1, 1, MAX_N);
    if ((long) n * prompts > MAX_ANSWERS) {
      throw ApiError.badRequest("n", prompts + " prompts times n = " + n + " asks for more than " + MAX_ANSWERS
          + " answers");
    }
    return n;
  }

  private static void fitsContext(List<int[]> prompts, int maxTokens, int maxPos, String field) {
    for (int i = 0; i < prompts.size(); i++) {
      if (prompts.get(i).length + maxTokens > maxPos) {
        throw ApiError.badRequest(field, (prompts.size() > 1 ? "prompt " + i : "the prompt") + " has "
            + prompts.get(i).length + " tokens; with " + field + " = " + maxTokens
            + " it exceeds the model's context of " + maxPos + " tokens");
      }
    }
  }

  private static List<int[]> completionPrompts(JsonFields f, LoadedModel model, ServerOptions options) {
    JsonNode p = f.get("prompt");
    int vocab = model.config().vocabSize();
    List<int[]> out = new ArrayList<>();
    if (p == null) {
      throw ApiError.badRequest("prompt", "required: a string, an array of strings, an array of token ids or an"
          + " array of token-id arrays");
    } else if (p.isTextual()) {
      out.add(encode(model, p.asText(), "prompt"));
    } else if (p.isArray() && !p.isEmpty()) {
      if (p.size() > RolloutRequest.MAX_PROMPTS) {
        throw new ApiError(413, "prompt", p.size() + " prompts; at most " + RolloutRequest.MAX_PROMPTS
            + " per request");
      }
      JsonNode first = p.get(0);
      if (first.isIntegralNumber()) {
        out.add(JsonFields.tokenIds(p, "prompt", vocab));
      } else {
        for (int i = 0; i < p.size(); i++) {
          JsonNode e = p.get(i);
          String path = "prompt[" + i + "]";
          if (first.isTextual() && e.isTextual()) {
            out.add(encode(model, e.asText(), path));
          } else if (first.isArray() && e.isArray()) {
            out.add(JsonFields.tokenIds(e, path, vocab));
          } else {
            throw ApiError.badRequest(path, "expected " + (first.isTextual() ? "a string like prompt[0]"
                : first.isArray() ? "an array of token ids like prompt[0]"
                : "a string or an array of token ids") + ", got " + JsonFields.kind(e));
          }
        }
      }
    } else {
      throw ApiError.badRequest("prompt", "expected a string, an array of strings, an array of token ids or an"
          + " array of token-id arrays, got " + (p.isArray() ? "an empty array" : JsonFields.kind(p)));
    }
    long tokens = out.stream().mapToLong(a -> a.length).sum();
    if (tokens > options.maxPromptTokens()) {
      throw new ApiError(413, "prompt", tokens + " prompt tokens; at most " + options.maxPromptTokens()
          + " per request");
    }
    return out;
  }

  private static int[] encode(LoadedModel model, String text, String path) {
    int[] ids = model.tokenizer().encodePrompt(text);
    if (ids.length == 0) {
      throw ApiError.badRequest(path, text.isEmpty() ? "is empty" : "encodes to no tokens");
    }
    return ids;
  }

  /**
   * vLLM's chat fields: {@code add_generation_prompt} (default true) and
   * {@code chat_template_kwargs}, further variables for the template such as Qwen3's
   * {@code enable_thinking}.
   */
  static ChatTemplate.Options chatOptions(JsonFields f) {
    boolean generationPrompt = f.bool("add_generation_prompt", true);
    JsonNode kw = f.get("chat_template_kwargs");
    java.util.Map<String, Object> vars = new java.util.HashMap<>();
    if (kw != null) {
      if (!kw.isObject()) {
        throw ApiError.badRequest(f.path("chat_template_kwargs"), "expected an object, got " + JsonFields.kind(kw));
      }
      for (var it = kw.properties().iterator(); it.hasNext(); ) {
        var e = it.next();
        if (ChatTemplate.Options.RESERVED.contains(e.getKey())) {
          throw ApiError.badRequest(f.path("chat_template_kwargs") + "." + e.getKey(), "is set by the server");
        }
        vars.put(e.getKey(), KWARGS.convertValue(e.getValue(), Object.class));
      }
    }
    return new ChatTemplate.Options(generationPrompt, vars);
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper KWARGS =
      new com.fasterxml.jackson.databind.ObjectMapper();

  private static List<ChatTemplate.Message> messages(JsonFields f) {
    return messages(f.get("messages"), "messages");
  }

  /** Chat messages at {@code base} of a request (also a rollout prompt's {@code messages}). */
  static List<ChatTemplate.Message> messages(JsonNode ms, String base) {
    if (ms == null || !ms.isArray() || ms.isEmpty()) {
      throw ApiError.badRequest(base, "expected a non-empty array of messages ({\"role\", \"content\"}), got "
          + (ms != null && ms.isArray() ? "an empty array" : JsonFields.kind(ms)));
    }
    List<ChatTemplate.Message> out = new ArrayList<>();
    for (int i = 0; i < ms.size(); i++) {
      String path = base + "[" + i + "]";
      JsonFields m = JsonFields.of(ms.get(i), path, MESSAGE);
      String role = m.string("role", null, 64);
      if (role == null) {
        throw ApiError.badRequest(m.path("role"), "required: system, user or assistant");
      }
      if (!ROLES.contains(role)) {
        throw ApiError.badRequest(m.path("role"), "'" + role + "' is not supported; use system, user or assistant");
      }
      for (String unsupported : List.of("tool_calls", "function_call", "tool_call_id", "audio")) {
        JsonNode v = m.get(unsupported);
        if (v != null && !(v.isArray() && v.isEmpty())) {
          throw ApiError.badRequest(m.path(unsupported), "is not supported (no tools, no audio)");
        }
      }
      m.string("refusal", null, Integer.MAX_VALUE); // an earlier answer's refusal: accepted, not shown to the model
      String name = m.string("name", null, 256);
      out.add(new ChatTemplate.Message(role, content(m), name));
    }
    return out;
  }

  /** A string, or text parts joined by newlines (as vLLM joins them for string templates). */
  private static String content(JsonFields m) {
    JsonNode c = m.get("content");
    String path = m.path("content");
    if (c == null) {
      throw ApiError.badRequest(path, "required: a string or an array of text parts");
    }
    if (c.isTextual()) {
      return c.asText();
    }
    if (!c.isArray() || c.isEmpty()) {
      throw ApiError.badRequest(path, "expected a string or a non-empty array of {\"type\": \"text\", \"text\"}"
          + " parts, got " + (c.isArray() ? "an empty array" : JsonFields.kind(c)));
    }
    List<String> texts = new ArrayList<>();
    for (int j = 0; j < c.size(); j++) {
      String partPath = path + "[" + j + "]";
      JsonNode part = c.get(j);
      if (!part.isObject()) {
        throw ApiError.badRequest(partPath, "expected an object {\"type\": \"text\", \"text\"}, got "
            + JsonFields.kind(part));
      }
      JsonNode type = part.get("type");
      if (type == null || !type.isTextual()) {
        throw ApiError.badRequest(partPath + ".type", "required: \"text\"");
      }
      if (!type.asText().equals("text")) {
        throw ApiError.badRequest(partPath + ".type", "only text parts are supported, got \"" + type.asText() + "\"");
      }
      String text = JsonFields.of(part, partPath, TEXT_PART).string("text", null, Integer.MAX_VALUE);
      if (text == null) {
        throw ApiError.badRequest(partPath + ".text", "required: a string");
      }
      texts.add(text);
    }
    return String.join("\n", texts);
  }

  private static void refuseUnsupportedChatFields(JsonFields f) {
    refuseUnless(f, "response_format", v -> v.isObject() && v.size() == 1 && "text".equals(v.path("type").asText()),
        "only {\"type\": \"text\"} is supported (no JSON mode or schemas)");
    refuseUnless(f, "tools", v -> v.isArray() && v.isEmpty(), "tools are not supported");
    refuseUnless(f, "functions", v -> v.isArray() && v.isEmpty(), "functions are not supported");
    refuseUnless(f, "tool_choice", v -> "none".equals(v.asText(null)), "tools are not supported; only \"none\"");
    refuseUnless(f, "function_call", v -> "none".equals(v.asText(null)), "functions are not supported; only \"none\"");
    f.bool("parallel_tool_calls", false); // meaningless without tools
    refuseUnless(f, "store", v -> v.isBoolean() && !v.asBoolean(), "this server stores no completions");
    JsonNode meta = f.get("metadata");
    if (meta != null && !meta.isObject()) {
      throw ApiError.badRequest("metadata", "expected an object, got " + JsonFields.kind(meta));
    }
    refuseUnless(f, "service_tier", v -> "auto".equals(v.asText(null)) || "default".equals(v.asText(null)),
        "only \"auto\" or \"default\"");
    refuseUnless(f, "modalities", v -> v.isArray() && v.size() == 1 && "text".equals(v.get(0).asText(null)),
        "only [\"text\"] is supported");
    for (String unsupported : List.of("audio", "prediction", "reasoning_effort", "web_search_options", "verbosity")) {
      refuseUnless(f, unsupported, v -> false, "is not supported by this server");
    }
    f.string("prompt_cache_key", null, 1024); // accepted and not used: the prefix cache needs no key
    f.string("safety_identifier", null, 256); // accepted and not used
  }

  /** An OpenAI field this server does not implement: refused unless given its neutral value. */
  private static void refuseUnless(JsonFields f, String field, Predicate<JsonNode> neutral, String why) {
    JsonNode v = f.get(field);
    if (v != null && !neutral.test(v)) {
      throw ApiError.badRequest(field, why);
    }
  }

  static Set<String> union(Set<String> a, String... more) {
    Set<String> s = new java.util.HashSet<>(a);
    s.addAll(List.of(more));
    return Set.copyOf(s);
  }
}
