package org.treeroll.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.treeroll.branching.RepetitionRule;
import org.treeroll.branching.TreeRolloutConfig;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.runtime.RolloutHooks;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * OpenAI-compatible {@code POST /v1/completions} and {@code POST /v1/chat/completions}
 * (docs/http-api.md), so OpenAI's clients and evaluation harnesses can sample from the engine.
 * A request's n answers per prompt are one rollout of independent trees: the prompt is prefilled
 * once and its KV shared, as vLLM's n does. They pass through the server's admission bound,
 * timeout, disconnect cancellation, API key and metrics like {@code /v1/rollouts}.
 *
 * <p>The engine ends an answer at the token that completes a stop string; the text is cut here,
 * at the stop string's first character (or after its last with include_stop_str_in_output). And
 * the engine reports an answer when it ends, so a stream shows each answer's chunks when that
 * answer is complete (answers of n > 1 arrive as each ends).
 */
final class OpenAiEndpoints {
  static final String COMPLETIONS = "/v1/completions";
  static final String CHAT = "/v1/chat/completions";

  private final RolloutServer server;
  private final Vertx vertx;
  private final InferenceSession session;
  private final ServerOptions options;
  private final ServerMetrics metrics;
  private final String modelId;
  private final ChatTemplate template;

  OpenAiEndpoints(RolloutServer server, Vertx vertx, InferenceSession session, ServerOptions options,
      ServerMetrics metrics, String modelId) {
    this.server = server;
    this.vertx = vertx;
    this.session = session;
    this.options = options;
    this.metrics = metrics;
    this.modelId = modelId;
    this.template = server.chat;
  }

  void register(Router r) {
    r.post(COMPLETIONS).handler(ctx -> handle(ctx, false));
    r.post(CHAT).handler(ctx -> handle(ctx, true));
  }

  private void handle(RoutingContext ctx, boolean chat) {
    server.guarded(ctx, () -> {
      JsonNode body = RolloutServer.jsonBody(ctx);
      OpenAiRequest req = chat ? OpenAiRequest.chat(body, session.model(), modelId, options, template)
          : OpenAiRequest.completion(body, session.model(), modelId, options);
      server.admit();
      start(ctx, req, new Shape(chat, (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID(),
          System.currentTimeMillis() / 1000, modelId));
    });
  }

  private void start(RoutingContext ctx, OpenAiRequest req, Shape shape) {
    Context loop = vertx.getOrCreateContext();
    HttpServerResponse res = ctx.response();
    AtomicBoolean over = new AtomicBoolean();
    Events events = req.stream() ? new Events(loop, res, req, shape) : null;
    RolloutHooks hooks = events == null ? RolloutHooks.NONE : new RolloutHooks() {
      @Override
      public void tokenSampled(RolloutTree tree, SegmentNode node) {
        events.token(tree, node);
      }

      @Override
      public void leafFinished(RolloutTree tree, SegmentNode leaf) {
        events.finished(leaf);
      }
    };
    // n answers sharing only the prompt; no rule may end an answer early but EOS and max_tokens.
    TreeRolloutConfig tree = TreeRolloutConfig.independent(req.n(), req.sampling().maxTokens())
        .withRepetition(RepetitionRule.OFF).withStopOnAnswer(false);
    CompletableFuture<List<RolloutTree>> trees;
    try {
      trees = session.rollout(req.prompts(), tree, req.sampling(), hooks);
    } catch (RuntimeException e) {
      server.release();
      throw e;
    }
    CompletableFuture<ObjectNode> result = RolloutEndpoints.linked(events == null ? trees
        : trees.thenCompose(t -> events.written().thenApply(v -> t)), t -> events == null ? body(req, shape, t)
        : usageChunk(shape, req, events.completionTokens()));
    result.whenComplete((v, e) -> {
      if (e != null) {
        trees.cancel(true); // a stream's result waits on more than the engine: cancel the engine itself
      }
    });
    long timer = vertx.setTimer(options.requestTimeout().toMillis(), t -> result.completeExceptionally(
        new ApiError(504, null, "timed out after " + options.requestTimeout().toSeconds()
            + " s; the request was cancelled")));
    res.closeHandler(v -> {
      if (!over.get()) {
        result.cancel(true); // the client went away: free its pages
      }
    });
    result.whenComplete((answer, e) -> {
      over.set(true);
      vertx.cancelTimer(timer);
      server.release();
      loop.runOnContext(v -> {
        if (events == null) {
          if (e != null) {
            server.fail(ctx, RolloutServer.asApiError(e));
          } else {
            server.sendJson(ctx, 200, answer);
          }
        } else {
          events.end(ctx, answer, e);
        }
      });
    });
  }

  // ---- Whole answers. ----

  private ObjectNode body(OpenAiRequest req, Shape shape, List<RolloutTree> trees) {
    Tokens tokens = new Tokens(session.model().tokenizer());
    ObjectNode o = shape.head(false);
    ArrayNode choices = o.putArray("choices");
    long completion = 0;
    for (SampledAnswer a : answers(trees)) {
      SampledAnswer.Text t = a.text(req.sampling().stop(), tokens::text);
      completion += t.kept();
      ObjectNode c = choices.addObject().put("index", choiceIndex(req, a));
      if (shape.chat()) {
        c.putObject("message").put("role", "assistant").put("content", t.text()).putNull("refusal");
        if (req.logprobs()) {
          chatLogprobs(c.putObject("logprobs"), a, 0, t.kept(), req, tokens);
        } else {
          c.putNull("logprobs");
        }
      } else {
        c.put("text", t.text());
        if (req.logprobs()) {
          legacyLogprobs(c.putObject("logprobs"), a, t, 0, t.kept(), 0, req, tokens);
        } else {
          c.putNull("logprobs");
        }
      }
      c.put("finish_reason", t.finishReason());
    }
    usage(o.putObject("usage"), req, completion);
    return o;
  }

  private static List<SampledAnswer> answers(List<RolloutTree> trees) {
    List<SampledAnswer> out = new ArrayList<>();
    for (RolloutTree t : trees) {
      t.leaves().forEach(leaf -> out.add(SampledAnswer.of(t, leaf)));
    }
    out.sort(Comparator.comparingInt(SampledAnswer::prompt).thenComparingInt(SampledAnswer::index));
    return out;
  }

  private static int choiceIndex(OpenAiRequest req, SampledAnswer a) {
    return a.prompt() * req.n() + a.index();
  }

  private static void usage(ObjectNode u, OpenAiRequest req, long completion) {
    long prompt = req.prompts().stream().mapToLong(p -> p.length).sum();
    u.put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
  }

  /** Chat's shape: one entry per token with its top candidates. */
  private static void chatLogprobs(ObjectNode lp, SampledAnswer a, int from, int to, OpenAiRequest req, Tokens tokens) {
    ArrayNode content = lp.putArray("content");
    int k = req.sampling().logprobs();
    for (int i = from; i < to; i++) {
      ObjectNode e = tokens.entry(content.addObject(), a.tokens()[i], a.logProbs()[i]);
      ArrayNode top = e.putArray("top_logprobs");
      for (int j = 0; j < Math.min(k, a.topIds()[i].length); j++) {
        tokens.entry(top.addObject(), a.topIds()[i][j], a.topLogProbs()[i][j]);
      }
    }
    lp.putNull("refusal");
  }

  /**
   * The legacy completions shape: parallel lists of tokens, their log-probs, their top
   * candidates (as a map, the sampled token always among them) and where each begins in the text.
   */
  private static void legacyLogprobs(ObjectNode lp, SampledAnswer a, SampledAnswer.Text t, int from, int to,
      int offsetBase, OpenAiRequest req, Tokens tokens) {
    ArrayNode toks = lp.putArray("tokens");
    ArrayNode lps = lp.putArray("token_logprobs");
    ArrayNode tops = lp.putArray("top_logprobs");
    ArrayNode offsets = lp.putArray("text_offset");
    int k = req.sampling().logprobs();
    for (int i = from; i < to; i++) {
      String s = tokens.text(a.tokens()[i]);
      toks.add(s);
      lps.add(a.logProbs()[i]);
      ObjectNode top = tops.addObject();
      for (int j = 0; j < Math.min(k, a.topIds()[i].length); j++) {
        String c = tokens.text(a.topIds()[i][j]);
        if (!top.has(c)) { // two ids may read the same (partial bytes): keep the likelier
          top.put(c, a.topLogProbs()[i][j]);
        }
      }
      if (!top.has(s)) {
        top.put(s, a.logProbs()[i]);
      }
      offsets.add(offsetBase + t.offsets()[i]);
    }
  }

  /** Token ids as text, each decoded once per request; special tokens show as written. */
  private static final class Tokens {
    private final TextTokenizer tokenizer;
    private final Map<Integer, String> cache = new HashMap<>();

    Tokens(TextTokenizer tokenizer) {
      this.tokenizer = tokenizer;
    }

    String text(int id) {
      return cache.computeIfAbsent(id, i -> tokenizer.decode(new int[] {i}, false));
    }

    /** Answer text: special tokens (EOS) show as nothing. */
    String text(int[] ids) {
      return tokenizer.decode(ids, true);
    }

    ObjectNode entry(ObjectNode e, int id, float logProb) {
      String s = text(id);
      e.put("token", s).put("logprob", logProb);
      ArrayNode bytes = e.putArray("bytes");
      for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
        bytes.add(b & 0xff);
      }
      return e;
    }
  }

  /** The fields every answer and chunk of one request share. */
  private record Shape(boolean chat, String id, long created, String model) {
    ObjectNode head(boolean chunk) {
      return RolloutServer.JSON.createObjectNode().put("id", id)
          .put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion")
          .put("created", created).put("model", model);
    }
  }

  private ObjectNode usageChunk(Shape shape, OpenAiRequest req, long completion) {
    if (!req.includeUsage()) {
      return null;
    }
    ObjectNode o = shape.head(true);
    o.putArray("choices");
    usage(o.putObject("usage"), req, completion);
    return o;
  }

  // ---- Streams: server-sent events. ----

  /**
   * The chunks of a streamed request, sent as the engine samples: each choice's tokens are turned
   * into text (held back while it could be the start of a stop string) and chunks off the engine's
   * thread, one task after another per choice, and written on the request's event loop in that
   * order; the end ({@code [DONE]}) follows the last choice's last chunk.
   */
  private final class Events {
    // Rendering runs off the engine's thread; each choice's tasks chain, one after another.
    private final java.util.concurrent.Executor callbacks = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
    private final Context loop;
    private final HttpServerResponse res;
    private final OpenAiRequest req;
    private final Shape shape;
    private final Map<SegmentNode, ChoiceStream> choices = new java.util.IdentityHashMap<>(); // engine thread
    private final List<CompletableFuture<Void>> done = new ArrayList<>();
    private final AtomicLong completionTokens = new AtomicLong();

    Events(Context loop, HttpServerResponse res, OpenAiRequest req, Shape shape) {
      this.loop = loop;
      this.res = res;
      this.req = req;
      this.shape = shape;
    }

    /** A token was sampled. Called on the engine's thread: copies it, hands off and returns. */
    void token(RolloutTree tree, SegmentNode node) {
      ChoiceStream c = choices.computeIfAbsent(node,
          n -> new ChoiceStream(tree.id() * req.n() + tree.root().children().indexOf(n)));
      int i = node.tokenCount() - 1;
      boolean top = node.candidatesPerToken() > 0;
      c.then(() -> c.add(node.token(i), node.logProb(i), top ? node.candidateIds(i) : new int[0],
          top ? node.candidateLogProbs(i) : new float[0]));
    }

    /** An answer ended. Called on the engine's thread. */
    void finished(SegmentNode leaf) {
      ChoiceStream c = choices.get(leaf);
      FinishReason reason = leaf.finishReason();
      c.then(() -> c.finish(reason));
      synchronized (done) {
        done.add(c.chain);
      }
    }

    /** Completes once every answer is rendered and queued for writing. */
    CompletableFuture<Void> written() {
      synchronized (done) {
        return CompletableFuture.allOf(done.toArray(CompletableFuture[]::new));
      }
    }

    long completionTokens() {
      return completionTokens.get();
    }

    /** One choice as it streams. Its methods run one at a time, in the order the engine called. */
    private final class ChoiceStream {
      private final int index;
      private final Tokens tokens = new Tokens(session.model().tokenizer());
      private final TextStream text;
      private CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
      private int count;
      private int from; // first token of the text not shown yet
      private int[] ids = new int[16];
      private float[] lps = new float[16];
      private int[][] topIds = new int[16][];
      private float[][] topLps = new float[16][];
      private int[] offsets = new int[16];

      ChoiceStream(int index) {
        this.index = index;
        this.text = new TextStream(tokens::text, req.sampling().stop());
        if (shape.chat()) { // chat opens every choice with the assistant's role
          then(() -> {
            ObjectNode chunk = chunk(index);
            ObjectNode c = choiceOf(chunk);
            c.putObject("delta").put("role", "assistant").put("content", "");
            c.putNull("logprobs").putNull("finish_reason");
            send(List.of(chunk));
          });
        }
      }

      /** Runs {@code task} after this choice's earlier ones, off the engine's thread. */
      void then(Runnable task) {
        chain = chain.thenRunAsync(task, callbacks);
      }

      void add(int id, float lp, int[] top, float[] topLp) {
        if (text.stopped()) {
          return; // past a stop string: the engine decodes on, the client sees nothing more
        }
        grow();
        ids[count] = id;
        lps[count] = lp;
        topIds[count] = top;
        topLps[count] = topLp;
        offsets[count] = text.offset();
        count++;
        String shown = text.add(id);
        if (!shown.isEmpty()) {
          int to = text.stopped() ? text.keptTokens() : count;
          send(List.of(piece(shown, from, to)));
          from = to;
        }
      }

      void finish(FinishReason reason) {
        int kept = text.keptTokens();
        String rest = text.finish();
        List<ObjectNode> out = new ArrayList<>();
        ObjectNode last = null;
        if (!rest.isEmpty() || from < kept) {
          last = piece(rest, from, kept);
          out.add(last);
        }
        if (shape.chat() || last == null) { // chat ends with an empty delta, as OpenAI's streams do
          last = chunk(index);
          ObjectNode c = choiceOf(last);
          if (shape.chat()) {
            c.putObject("delta");
          } else {
            c.put("text", "");
          }
          c.putNull("logprobs");
          out.add(last);
        }
        choiceOf(last).put("finish_reason", text.stopped() ? "stop" : SampledAnswer.finishReason(reason));
        completionTokens.addAndGet(kept);
        send(out);
      }

      /** A chunk showing {@code shown}, with tokens {@code [from, to)}. */
      private ObjectNode piece(String shown, int from, int to) {
        SampledAnswer a = new SampledAnswer(0, index, ids, lps, topIds, topLps, null);
        ObjectNode chunk = chunk(index);
        ObjectNode c = choiceOf(chunk);
        if (shape.chat()) {
          c.putObject("delta").put("content", shown);
          if (req.logprobs()) {
            chatLogprobs(c.putObject("logprobs"), a, from, to, req, tokens);
          } else {
            c.putNull("logprobs");
          }
        } else {
          c.put("text", shown);
          if (req.logprobs()) {
            legacyLogprobs(c.putObject("logprobs"), a, new SampledAnswer.Text("", List.of(), to, offsets, null), from,
                to, 0, req, tokens);
          } else {
            c.putNull("logprobs");
          }
        }
        c.putNull("finish_reason");
        return chunk;
      }

      private void grow() {
        if (count == ids.length) {
          int n = 2 * count;
          ids = java.util.Arrays.copyOf(ids, n);
          lps = java.util.Arrays.copyOf(lps, n);
          topIds = java.util.Arrays.copyOf(topIds, n);
          topLps = java.util.Arrays.copyOf(topLps, n);
          offsets = java.util.Arrays.copyOf(offsets, n);
        }
      }
    }

    /** A new chunk with one choice of {@code index}. */
    private ObjectNode chunk(int index) {
      ObjectNode o = shape.head(true);
      o.putArray("choices").addObject().put("index", index);
      return o;
    }

    private static ObjectNode choiceOf(ObjectNode chunk) {
      return (ObjectNode) chunk.get("choices").get(0);
    }

    private void send(List<ObjectNode> chunks) {
      Buffer b = Buffer.buffer();
      chunks.forEach(c -> b.appendBuffer(event(c)));
      loop.runOnContext(v -> write(b));
    }

    private void write(Buffer b) {
      if (res.ended() || res.closed()) {
        return;
      }
      if (!res.headWritten()) {
        res.setStatusCode(200).setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream")
            .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache");
      }
      res.write(b);
    }

    /** On the event loop: the usage chunk and [DONE], or the error. */
    void end(RoutingContext ctx, ObjectNode usage, Throwable e) {
      if (res.ended() || res.closed()) {
        return;
      }
      if (e != null && !res.headWritten()) {
        server.fail(ctx, RolloutServer.asApiError(e)); // nothing sent yet: a plain error with its status
        return;
      }
      Buffer b = Buffer.buffer();
      int status = 200;
      if (e != null) {
        ApiError err = RolloutServer.asApiError(e);
        status = err.status;
        b.appendBuffer(event(err.toJson()));
      } else if (usage != null) {
        b.appendBuffer(event(usage));
      }
      b.appendString("data: [DONE]\n\n");
      write(b);
      res.end();
      metrics.record(shape.chat() ? CHAT : COMPLETIONS, status, System.nanoTime() - (long) ctx.get("t0"));
    }
  }

  private static Buffer event(ObjectNode o) {
    return Buffer.buffer("data: ").appendBuffer(RolloutServer.line(o)).appendString("\n");
  }
}
