package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.treeroll.advantage.AdvantageEstimator;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.reward.RewardFunction;
import org.treeroll.reward.RewardFunctions;
import org.treeroll.reward.TreeRewards;
import org.treeroll.tree.TreeRollException;

/**
 * A {@code POST /v1/rollouts} body, read strictly (docs/http-api.md). Prompts are token ids
 * whatever they came as; {@code problems} hold the text and reference a reward function sees.
 *
 * @param id the client's id for the rollout, or a new one
 * @param reward the reward function, or null for trees without rewards; closed with the request
 * @param estimator the advantage estimator (with a reward only)
 */
record RolloutRequest(String id, List<int[]> prompts, List<TreeRewards.Problem> problems, TreeRolloutConfig tree,
    SamplingParams sampling, RewardFunction reward, AdvantageEstimator estimator, boolean stream)
    implements AutoCloseable {

  static final int MAX_PROMPTS = 4096;
  private static final Pattern ID = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
  private static final Set<String> FIELDS =
      Set.of("id", "prompts", "references", "tree", "sampling", "reward", "estimator", "stream");
  private static final Set<String> TREE = Set.of("segment_length", "max_depth", "initial_divergence", "leaf_budget",
      "branching_factor", "max_tokens", "policy", "stop_on_answer", "repetition");
  private static final Set<String> SAMPLING = OpenAiRequest.union(SamplingFields.NAMES,
      "temperature", "top_p", "top_k", "seed", "logprobs", "stop_token_ids", "ignore_eos");
  private static final Set<String> PROMPT =
      Set.of("text", "token_ids", "messages", "add_generation_prompt", "chat_template_kwargs");

  static RolloutRequest parse(JsonNode body, LoadedModel model, ChatTemplate chat, ServerOptions options, String newId,
      Vertx vertx) {
    JsonFields f = JsonFields.of(body, "", FIELDS);
    String id = f.string("id", null, 64);
    if (id != null && !ID.matcher(id).matches()) {
      throw ApiError.badRequest("id", "must be 1-64 characters of letters, digits and . _ : -");
    }
    List<String> texts = new ArrayList<>();
    List<int[]> prompts = prompts(f, model, chat, options, texts);
    List<TreeRewards.Problem> problems = new ArrayList<>();
    String reward = f.string("reward", null, 4096);
    JsonNode refs = f.get("references");
    if (refs != null && (!refs.isArray() || refs.size() != prompts.size())) {
      throw ApiError.badRequest("references", "expected an array of " + prompts.size()
          + " strings (one per prompt), got " + JsonFields.kind(refs) + (refs.isArray() ? " of " + refs.size() : ""));
    }
    for (int i = 0; i < prompts.size(); i++) {
      String ref = null;
      if (refs != null) {
        JsonNode r = refs.get(i);
        if (!r.isTextual()) {
          throw ApiError.badRequest("references[" + i + "]", "expected a string, got " + JsonFields.kind(r));
        }
        ref = r.asText();
      }
      problems.add(new TreeRewards.Problem(texts.get(i), ref));
    }
    if (reward == null && refs != null) {
      throw ApiError.badRequest("references", "given without a reward to score them");
    }
    String estimatorSpec = f.string("estimator", null, 1024);
    if (estimatorSpec != null && reward == null) {
      throw ApiError.badRequest("estimator", "advantages need rewards: give a reward too");
    }
    AdvantageEstimator estimator = reward == null ? null
        : component("estimator", () -> AdvantageEstimators.create(estimatorSpec == null ? "grpo" : estimatorSpec));
    TreeRolloutConfig tree = tree(f, model);
    fitContext(prompts, tree.maxTokens(), model.config().maxPositionEmbeddings());
    SamplingParams sampling = sampling(f, model, tree.maxTokens());
    boolean stream = f.bool("stream", false);
    // Last: a reward function may hold connections, and nothing after it can fail.
    RewardFunction fn = reward == null ? null : component("reward", () -> RewardFunctions.create(reward, vertx));
    return new RolloutRequest(id == null ? newId : id, prompts, problems, tree, sampling, fn, estimator, stream);
  }

  @Override
  public void close() {
    if (reward != null) {
      reward.close();
    }
  }

  private static List<int[]> prompts(JsonFields f, LoadedModel model, ChatTemplate chat, ServerOptions options,
      List<String> texts) {
    JsonNode ps = f.get("prompts");
    if (ps == null || !ps.isArray() || ps.isEmpty()) {
      throw ApiError.badRequest("prompts", "expected a non-empty array of prompts (strings, or objects with text"
          + " or token_ids), got " + JsonFields.kind(ps));
    }
    if (ps.size() > MAX_PROMPTS) {
      throw new ApiError(413, "prompts", ps.size() + " prompts; at most " + MAX_PROMPTS + " per request");
    }
    int vocab = model.config().vocabSize();
    List<int[]> out = new ArrayList<>();
    long tokens = 0;
    for (int i = 0; i < ps.size(); i++) {
      String path = "prompts[" + i + "]";
      JsonNode p = ps.get(i);
      int[] ids;
      String text;
      if (p.isTextual()) {
        text = p.asText();
        ids = encode(model, text, path);
      } else if (p.isObject()) {
        JsonFields o = JsonFields.of(p, path, PROMPT);
        if ((o.has("text") ? 1 : 0) + (o.has("token_ids") ? 1 : 0) + (o.has("messages") ? 1 : 0) != 1) {
          throw ApiError.badRequest(path, "give exactly one of text, token_ids and messages");
        }
        if (!o.has("messages")) {
          for (String chatOnly : List.of("add_generation_prompt", "chat_template_kwargs")) {
            if (o.has(chatOnly)) {
              throw ApiError.badRequest(o.path(chatOnly), "applies to messages only");
            }
          }
        }
        if (o.has("text")) {
          text = o.string("text", null, Integer.MAX_VALUE);
          ids = encode(model, text, o.path("text"));
        } else if (o.has("messages")) {
          // Rendered with the model's chat template, as /v1/chat/completions does; the template
          // writes its own special tokens.
          text = chat.render(OpenAiRequest.messages(o.get("messages"), o.path("messages")),
              OpenAiRequest.chatOptions(o));
          ids = nonEmpty(text.isEmpty() ? new int[0] : model.tokenizer().encode(text), text, o.path("messages"));
        } else {
          ids = JsonFields.tokenIds(o.get("token_ids"), o.path("token_ids"), vocab);
          text = model.tokenizer().decode(ids, false);
        }
      } else {
        throw ApiError.badRequest(path, "expected a string or an object with text or token_ids, got "
            + JsonFields.kind(p));
      }
      tokens += ids.length;
      if (tokens > options.maxPromptTokens()) {
        throw new ApiError(413, "prompts", "more than " + options.maxPromptTokens() + " prompt tokens in all");
      }
      out.add(ids);
      texts.add(text);
    }
    return out;
  }

  /** The engine refuses these too, but without naming the prompt at fault. */
  private static void fitContext(List<int[]> prompts, int maxTokens, int context) {
    for (int i = 0; i < prompts.size(); i++) {
      if ((long) prompts.get(i).length + maxTokens > context) {
        throw ApiError.badRequest("prompts[" + i + "]", prompts.get(i).length + " tokens, with tree.max_tokens "
            + maxTokens + ", exceed the model's context of " + context + " tokens");
      }
    }
  }

  /** A text prompt's ids, with the special tokens the tokenizer adds to a text (a BOS). */
  private static int[] encode(LoadedModel model, String text, String path) {
    return nonEmpty(text.isEmpty() ? new int[0] : model.tokenizer().encodePrompt(text), text, path);
  }

  private static int[] nonEmpty(int[] ids, String text, String path) {
    if (ids.length == 0) {
      throw ApiError.badRequest(path, text.isEmpty() ? "is empty" : "encodes to no tokens");
    }
    return ids;
  }

  private static TreeRolloutConfig tree(JsonFields body, LoadedModel model) {
    JsonNode node = body.get("tree");
    TreeRolloutConfig d = TreeRolloutConfig.defaults();
    if (node == null) {
      return d;
    }
    JsonFields t = JsonFields.of(node, "tree", TREE);
    int maxPos = model.config().maxPositionEmbeddings();
    int segment = t.integer("segment_length", d.segmentLength(), 1, maxPos);
    int depth = t.integer("max_depth", d.maxDepth(), 1, maxPos);
    int leaves = t.integer("leaf_budget", d.leafBudget(), 1, 1024);
    int divergence = t.integer("initial_divergence", Math.min(d.initialDivergence(), leaves), 1, leaves);
    int factor = t.integer("branching_factor", d.branchingFactor(), 1, 64);
    int maxTokens = t.integer("max_tokens", (int) Math.min(maxPos, (long) segment * depth), 1, maxPos);
    String policy = t.string("policy", d.policy(), 1024);
    String repetition = t.string("repetition", "default", 16);
    RepetitionRule rule = switch (repetition) {
      case "default" -> RepetitionRule.DEFAULT;
      case "off" -> RepetitionRule.OFF;
      default -> throw ApiError.badRequest("tree.repetition", "expected \"default\" or \"off\", got \"" + repetition + "\"");
    };
    TreeRolloutConfig cfg;
    try {
      cfg = new TreeRolloutConfig(segment, depth, divergence, leaves, factor, maxTokens, d.policy(), rule,
          t.bool("stop_on_answer", d.stopOnAnswer()));
    } catch (TreeRollException e) {
      throw ApiError.badRequest("tree", e.getMessage());
    }
    try {
      return cfg.withPolicy(policy);
    } catch (TreeRollException e) {
      throw ApiError.badRequest("tree.policy", e.getMessage());
    }
  }

  private static SamplingParams sampling(JsonFields body, LoadedModel model, int maxTokens) {
    JsonNode node = body.get("sampling");
    SamplingParams d = SamplingParams.defaults();
    JsonFields s = JsonFields.of(node == null ? com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode()
        : node, "sampling", SAMPLING);
    int vocab = model.config().vocabSize();
    int[] stops = s.has("stop_token_ids") ? stopIds(s, vocab) : new int[0];
    return SamplingFields.apply(s, new SamplingParams(s.number("temperature", d.temperature(), 0, 100), topP(s),
        s.integer("top_k", 0, 0, vocab), maxTokens, stops, s.longValue("seed", d.seed()),
        s.integer("logprobs", 0, 0, SamplingParams.MAX_LOGPROBS), s.bool("ignore_eos", false)), vocab);
  }

  private static double topP(JsonFields s) {
    double p = s.number("top_p", 1.0, 0, 1);
    if (p == 0) {
      throw ApiError.badRequest(s.path("top_p"), "must be in (0, 1], got 0");
    }
    return p;
  }

  private static int[] stopIds(JsonFields s, int vocab) {
    JsonNode v = s.get("stop_token_ids");
    if (v.isArray() && v.isEmpty()) {
      return new int[0];
    }
    return JsonFields.tokenIds(v, s.path("stop_token_ids"), vocab);
  }

  private static <T> T component(String field, java.util.function.Supplier<T> create) {
    try {
      return create.get();
    } catch (TreeRollException e) {
      throw ApiError.badRequest(field, e.getMessage());
    }
  }
}
