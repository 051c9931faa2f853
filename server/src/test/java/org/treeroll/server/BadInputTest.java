package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.treeroll.engine.scheduler.EngineStats;

/**
 * Hostile input over real HTTP: a hand-written table of bad requests and generated mutations of
 * good ones. Every bad request is answered 4xx in the error shape, naming the field at fault and
 * leaking no Java internals; none is answered 5xx. Afterwards the server still serves a good
 * rollout and the engine holds nothing for any of them.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BadInputTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  static final int VOCAB = 259;
  static final int CONTEXT = 512;
  /** What an error message must never show: stack frames, exception classes, parser internals. */
  static final Pattern LEAK = Pattern.compile(
      "Exception|\\bat [\\w$.]+\\(|java\\.|javax\\.|com\\.fasterxml|io\\.vertx|io\\.netty|org\\.treeroll|`|Feature '|REDACTED|\\[Source");

  static TestServer ts;
  static HttpClient http;
  /** Requests sent, by kind, for the summary printed at the end. */
  static final Map<String, Integer> sent = new TreeMap<>();

  @BeforeAll
  static void start() {
    ts = TestServer.start(TestServer.smallLimits());
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() {
    int total = sent.values().stream().mapToInt(Integer::intValue).sum();
    System.out.println("BadInputTest: " + total + " requests " + sent);
    if (ts != null) {
      ts.close();
    }
  }

  // ---- Cases. ----

  /** A request and its required answer: a status and, for an error, the field at fault (null: none). */
  record Case(String name, String method, String path, String contentType, byte[] body, Map<String, String> headers,
      int status, String param) {}

  /** {@code json} with single quotes for double ones, so the table reads. */
  static String q(String json) {
    return json.replace('\'', '"');
  }

  static Case post(String name, String json, int status, String param) {
    return raw(name, "POST", "/v1/rollouts", "application/json", q(json).getBytes(StandardCharsets.UTF_8), status, param);
  }

  static Case bad(String name, String json, String param) {
    return post(name, json, 400, param);
  }

  static Case weights(String name, String json, String param) {
    return raw(name, "POST", "/v1/weights", "application/json", q(json).getBytes(StandardCharsets.UTF_8), 400, param);
  }

  static Case raw(String name, String method, String path, String contentType, byte[] body, int status, String param) {
    return new Case(name, method, path, contentType, body, Map.of(), status, param);
  }

  static byte[] bytes(Object... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Object p : parts) {
      if (p instanceof String s) {
        out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
      } else {
        for (int b : (int[]) p) {
          out.write(b);
        }
      }
    }
    return out.toByteArray();
  }

  static final String TWO_POW_70 = BigInteger.TWO.pow(70).toString();
  static final String SMALL_TREE = "'tree':{'leaf_budget':2,'segment_length':4,'max_tokens':8}";

  static List<Case> table() {
    List<Case> t = new ArrayList<>();
    // The body as a whole.
    t.add(raw("empty body", "POST", "/v1/rollouts", "application/json", new byte[0], 400, null));
    t.add(post("array body", "[]", 400, null));
    t.add(post("array of a good request", "[{'prompts':['a']}]", 400, null));
    t.add(post("number body", "1", 400, null));
    t.add(post("string body", "'prompts'", 400, null));
    t.add(post("null body", "null", 400, null));
    t.add(post("boolean body", "true", 400, null));
    t.add(post("whitespace body", "  \n\t ", 400, null));
    t.add(post("truncated object", "{'prompts':['a'", 400, null));
    t.add(post("truncated string", "{'prompts':['a", 400, null));
    t.add(post("truncated after colon", "{'prompts':", 400, null));
    t.add(post("trailing garbage", "{'prompts':['a']} x", 400, null));
    t.add(post("trailing second object", "{'prompts':['a']} {}", 400, null));
    t.add(post("trailing comma", "{'prompts':['a'],}", 400, null));
    t.add(post("duplicate key", "{'prompts':['a'],'prompts':[5]}", 400, null));
    t.add(post("duplicate nested key", "{'prompts':['a'],'tree':{'leaf_budget':2,'leaf_budget':9999}}", 400, null));
    t.add(raw("invalid UTF-8 byte", "POST", "/v1/rollouts", "application/json",
        bytes("{\"prompts\":[\"", new int[] {0xff, 0xfe}, "\"]}"), 400, null));
    t.add(raw("overlong UTF-8", "POST", "/v1/rollouts", "application/json",
        bytes("{\"prompts\":[\"", new int[] {0xc0, 0xaf}, "\"]}"), 400, null));
    t.add(raw("lone UTF-8 continuation byte", "POST", "/v1/rollouts", "application/json",
        bytes("{\"prompts\":[\"", new int[] {0x80}, "\"]}"), 400, null));
    t.add(raw("UTF-8 sequence cut short", "POST", "/v1/rollouts", "application/json",
        bytes("{\"prompts\":[\"", new int[] {0xe2, 0x82}, "\"]}"), 400, null));
    t.add(raw("invalid UTF-8 in a key", "POST", "/v1/rollouts", "application/json",
        bytes("{\"", new int[] {0xff}, "\":1,\"prompts\":[\"a\"]}"), 400, null));
    t.add(post("NaN literal", "{'prompts':['a'],'sampling':{'temperature':NaN}}", 400, null));
    t.add(post("Infinity literal", "{'prompts':['a'],'sampling':{'temperature':Infinity}}", 400, null));
    t.add(post("-Infinity literal", "{'prompts':['a'],'sampling':{'top_p':-Infinity}}", 400, null));
    t.add(raw("single quotes", "POST", "/v1/rollouts", "application/json", "{'prompts':['a']}".getBytes(), 400, null));
    t.add(post("unquoted key", "{prompts:['a']}", 400, null));
    t.add(post("comment", "{'prompts':['a'] /* hi */}", 400, null));
    t.add(post("leading zero", "{'prompts':['a'],'sampling':{'seed':01}}", 400, null));
    t.add(post("leading plus", "{'prompts':['a'],'sampling':{'seed':+1}}", 400, null));
    t.add(post("leading decimal point", "{'prompts':['a'],'sampling':{'top_p':.5}}", 400, null));
    t.add(post("number of 1200 digits", "{'prompts':['a'],'sampling':{'seed':" + "9".repeat(1200) + "}}", 400, null));
    t.add(post("raw control character in a string", "{'prompts':['a\u0001b\nc']}", 400, null));
    t.add(post("bad escape", "{'prompts':['a\\x41']}", 400, null));
    t.add(post("nesting past the parser's limit", "{'prompts':" + "[".repeat(3000) + "]".repeat(3000) + "}", 400, null));
    t.add(bad("deep nesting in a prompt", "{'prompts':" + "[".repeat(600) + "]".repeat(600) + "}", "prompts[0]"));
    t.add(bad("deep nesting in an unknown field", "{'prompts':['a'],'tree':{'x':" + "{'y':".repeat(500) + "1"
        + "}".repeat(500) + "}}", "tree.x"));
    t.add(post("a stream request is refused as JSON too", "{'prompts':[],'stream':true}", 400, "prompts"));

    // Content type and size.
    t.add(raw("text/plain", "POST", "/v1/rollouts", "text/plain", q("{'prompts':['a']}").getBytes(), 415, null));
    t.add(raw("no content type", "POST", "/v1/rollouts", null, q("{'prompts':['a']}").getBytes(), 415, null));
    t.add(raw("application/jsonx", "POST", "/v1/rollouts", "application/jsonx", q("{'prompts':['a']}").getBytes(), 415, null));
    t.add(raw("application/json-seq", "POST", "/v1/rollouts", "application/json-seq", q("{'prompts':['a']}").getBytes(),
        415, null));
    t.add(raw("form", "POST", "/v1/rollouts", "application/x-www-form-urlencoded", "prompts=a".getBytes(), 415, null));
    t.add(raw("multipart", "POST", "/v1/rollouts", "multipart/form-data; boundary=xx",
        "--xx\r\nContent-Disposition: form-data; name=\"prompts\"\r\n\r\na\r\n--xx--\r\n".getBytes(), 415, null));
    t.add(raw("body over the limit", "POST", "/v1/rollouts", "application/json",
        q("{'prompts':['" + "a".repeat(100_000) + "']}").getBytes(), 413, null));
    t.add(raw("whitespace over the limit", "POST", "/v1/rollouts", "application/json",
        q("{'prompts':['a']}" + " ".repeat(70_000)).getBytes(), 413, null));
    t.add(post("one prompt over the token limit", "{'prompts':['" + "a".repeat(2100) + "']}", 413, "prompts"));
    t.add(post("prompts over the token limit together", "{'prompts':[" + String.join(",",
        java.util.Collections.nCopies(5, "'" + "b".repeat(450) + "'")) + "]}", 413, "prompts"));
    t.add(post("more prompts than allowed", "{'prompts':[" + String.join(",", java.util.Collections.nCopies(
        RolloutRequest.MAX_PROMPTS + 1, "'a'")) + "]}", 413, "prompts"));
    t.add(bad("prompt longer than the context", "{'prompts':['" + "c".repeat(600) + "']}", "prompts[0]"));
    t.add(bad("second prompt and max_tokens past the context", "{'prompts':['a','" + "d".repeat(20)
        + "'],'tree':{'max_tokens':500}}", "prompts[1]"));

    // Top-level fields.
    t.add(bad("no fields", "{}", "prompts"));
    t.add(bad("unknown top-level field", "{'prompts':['a'],'model':'gpt'}", "model"));
    t.add(bad("field name in the wrong case", "{'Prompts':['a']}", "Prompts"));
    t.add(bad("prompts is a string", "{'prompts':'a'}", "prompts"));
    t.add(bad("prompts is empty", "{'prompts':[]}", "prompts"));
    t.add(bad("prompts is null", "{'prompts':null}", "prompts"));
    t.add(bad("prompts is an object", "{'prompts':{'text':'a'}}", "prompts"));
    t.add(bad("prompts is a number", "{'prompts':3}", "prompts"));
    t.add(bad("empty prompt", "{'prompts':['']}", "prompts[0]"));
    t.add(bad("number prompt", "{'prompts':[5]}", "prompts[0]"));
    t.add(bad("null prompt", "{'prompts':[null]}", "prompts[0]"));
    t.add(bad("array prompt", "{'prompts':[['a']]}", "prompts[0]"));
    t.add(bad("boolean prompt", "{'prompts':[true]}", "prompts[0]"));
    t.add(bad("second prompt bad", "{'prompts':['a',7]}", "prompts[1]"));
    t.add(bad("prompt with text and token_ids", "{'prompts':[{'text':'a','token_ids':[97]}]}", "prompts[0]"));
    t.add(bad("prompt with neither", "{'prompts':[{}]}", "prompts[0]"));
    t.add(bad("prompt with null text", "{'prompts':[{'text':null}]}", "prompts[0]"));
    t.add(bad("prompt with an unknown field", "{'prompts':[{'text':'a','role':'user'}]}", "prompts[0].role"));
    t.add(bad("chat message as a prompt", "{'prompts':[{'role':'user','content':'a'}]}", "prompts[0].role"));
    t.add(bad("prompt text a number", "{'prompts':[{'text':5}]}", "prompts[0].text"));
    t.add(bad("prompt text empty", "{'prompts':[{'text':''}]}", "prompts[0].text"));
    t.add(bad("token_ids empty", "{'prompts':[{'token_ids':[]}]}", "prompts[0].token_ids"));
    t.add(bad("token_ids a string", "{'prompts':[{'token_ids':'1,2'}]}", "prompts[0].token_ids"));
    t.add(bad("token_ids an object", "{'prompts':[{'token_ids':{'0':1}}]}", "prompts[0].token_ids"));
    t.add(bad("negative token id", "{'prompts':[{'token_ids':[-1]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id = vocab", "{'prompts':[{'token_ids':[97," + VOCAB + "]}]}", "prompts[0].token_ids[1]"));
    t.add(bad("token id past int", "{'prompts':[{'token_ids':[4294967393]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id 2^70", "{'prompts':[{'token_ids':[" + TWO_POW_70 + "]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id float", "{'prompts':[{'token_ids':[1.5]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id integral float", "{'prompts':[{'token_ids':[97, 2.0]}]}", "prompts[0].token_ids[1]"));
    t.add(bad("token id exponent", "{'prompts':[{'token_ids':[1e2]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id string", "{'prompts':[{'token_ids':['7']}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id null", "{'prompts':[{'token_ids':[null]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("token id nested", "{'prompts':[{'token_ids':[[1]]}]}", "prompts[0].token_ids[0]"));
    t.add(bad("id empty", "{'id':'','prompts':['a']}", "id"));
    t.add(bad("id with a space", "{'id':'a b','prompts':['a']}", "id"));
    t.add(bad("id of 65 characters", "{'id':'" + "i".repeat(65) + "','prompts':['a']}", "id"));
    t.add(bad("id with a slash", "{'id':'../etc/passwd','prompts':['a']}", "id"));
    t.add(bad("id not ASCII", "{'id':'\u00e9t\u00e9','prompts':['a']}", "id"));
    t.add(bad("id with NUL", "{'id':'a\\u0000b','prompts':['a']}", "id"));
    t.add(bad("id with a newline", "{'id':'a\\nb','prompts':['a']}", "id"));
    t.add(bad("id a number", "{'id':5,'prompts':['a']}", "id"));
    t.add(bad("id an array", "{'id':['a'],'prompts':['a']}", "id"));
    t.add(bad("stream a string", "{'prompts':['a'],'stream':'yes'}", "stream"));
    t.add(bad("stream a number", "{'prompts':['a'],'stream':1}", "stream"));

    // References, rewards, estimators.
    t.add(bad("references without a reward", "{'prompts':['a'],'references':['1']}", "references"));
    t.add(bad("references too short", "{'prompts':['a','b'],'reward':'math','references':['1']}", "references"));
    t.add(bad("references too long", "{'prompts':['a'],'reward':'math','references':['1','2']}", "references"));
    t.add(bad("references empty", "{'prompts':['a'],'reward':'math','references':[]}", "references"));
    t.add(bad("references a string", "{'prompts':['a'],'reward':'math','references':'1'}", "references"));
    t.add(bad("reference a number", "{'prompts':['a'],'reward':'math','references':[1]}", "references[0]"));
    t.add(bad("reference null", "{'prompts':['a','b'],'reward':'math','references':['1',null]}", "references[1]"));
    t.add(bad("estimator without a reward", "{'prompts':['a'],'estimator':'grpo'}", "estimator"));
    t.add(bad("unknown estimator", "{'prompts':['a'],'reward':'math','references':['1'],'estimator':'ppo'}", "estimator"));
    t.add(bad("estimator bad boolean", "{'prompts':['a'],'reward':'math','references':['1'],'estimator':'grpo:std=maybe'}",
        "estimator"));
    t.add(bad("estimator unknown parameter", "{'prompts':['a'],'reward':'math','references':['1'],"
        + "'estimator':'treepo:whiten=true,foo=2'}", "estimator"));
    t.add(bad("estimator negative lambda", "{'prompts':['a'],'reward':'math','references':['1'],"
        + "'estimator':'rose:lambda=-1'}", "estimator"));
    t.add(bad("estimator parameter twice", "{'prompts':['a'],'reward':'math','references':['1'],"
        + "'estimator':'grpo:std=true,std=false'}", "estimator"));
    t.add(bad("estimator a number", "{'prompts':['a'],'reward':'math','references':['1'],'estimator':5}", "estimator"));
    t.add(bad("estimator empty", "{'prompts':['a'],'reward':'math','references':['1'],'estimator':''}", "estimator"));
    t.add(bad("unknown reward", "{'prompts':['a'],'reward':'bleu'}", "reward"));
    t.add(bad("reward unknown parameter", "{'prompts':['a'],'reward':'math:x=1'}", "reward"));
    t.add(bad("reward bad regex", "{'prompts':['a'],'reward':'regex:pattern=['}", "reward"));
    t.add(bad("reward regex without pattern", "{'prompts':['a'],'reward':'regex'}", "reward"));
    t.add(bad("http reward without url", "{'prompts':['a'],'reward':'http'}", "reward"));
    t.add(bad("http reward ftp url", "{'prompts':['a'],'reward':'http:url=ftp://x'}", "reward"));
    t.add(bad("http reward broken url", "{'prompts':['a'],'reward':'http:url=http://[::1'}", "reward"));
    t.add(bad("reward a number", "{'prompts':['a'],'reward':1}", "reward"));
    t.add(bad("reward an object", "{'prompts':['a'],'reward':{'name':'math'}}", "reward"));
    t.add(bad("reward empty", "{'prompts':['a'],'reward':''}", "reward"));

    // Tree.
    t.add(bad("tree an array", "{'prompts':['a'],'tree':[]}", "tree"));
    t.add(bad("tree a string", "{'prompts':['a'],'tree':'big'}", "tree"));
    t.add(bad("unknown tree field", "{'prompts':['a'],'tree':{'width':3}}", "tree.width"));
    t.add(bad("negative leaf_budget", "{'prompts':['a'],'tree':{'leaf_budget':-1}}", "tree.leaf_budget"));
    t.add(bad("zero leaf_budget", "{'prompts':['a'],'tree':{'leaf_budget':0}}", "tree.leaf_budget"));
    t.add(bad("leaf_budget over 1024", "{'prompts':['a'],'tree':{'leaf_budget':1025}}", "tree.leaf_budget"));
    t.add(bad("leaf_budget 2^31", "{'prompts':['a'],'tree':{'leaf_budget':2147483648}}", "tree.leaf_budget"));
    t.add(bad("leaf_budget 2^70", "{'prompts':['a'],'tree':{'leaf_budget':" + TWO_POW_70 + "}}", "tree.leaf_budget"));
    t.add(bad("leaf_budget 1e400", "{'prompts':['a'],'tree':{'leaf_budget':1e400}}", "tree.leaf_budget"));
    t.add(bad("leaf_budget a string", "{'prompts':['a'],'tree':{'leaf_budget':'4'}}", "tree.leaf_budget"));
    t.add(bad("leaf_budget a fraction", "{'prompts':['a'],'tree':{'leaf_budget':2.5}}", "tree.leaf_budget"));
    t.add(bad("negative segment_length", "{'prompts':['a'],'tree':{'segment_length':-5}}", "tree.segment_length"));
    t.add(bad("zero segment_length", "{'prompts':['a'],'tree':{'segment_length':0}}", "tree.segment_length"));
    t.add(bad("huge segment_length", "{'prompts':['a'],'tree':{'segment_length':100000}}", "tree.segment_length"));
    t.add(bad("negative max_tokens", "{'prompts':['a'],'tree':{'max_tokens':-1}}", "tree.max_tokens"));
    t.add(bad("zero max_tokens", "{'prompts':['a'],'tree':{'max_tokens':0}}", "tree.max_tokens"));
    t.add(bad("max_tokens past the context", "{'prompts':['a'],'tree':{'max_tokens':" + (CONTEXT + 1) + "}}",
        "tree.max_tokens"));
    t.add(bad("max_tokens a boolean", "{'prompts':['a'],'tree':{'max_tokens':true}}", "tree.max_tokens"));
    t.add(bad("zero max_depth", "{'prompts':['a'],'tree':{'max_depth':0}}", "tree.max_depth"));
    t.add(bad("zero branching_factor", "{'prompts':['a'],'tree':{'branching_factor':0}}", "tree.branching_factor"));
    t.add(bad("branching_factor over 64", "{'prompts':['a'],'tree':{'branching_factor':65}}", "tree.branching_factor"));
    t.add(bad("initial_divergence over leaf_budget", "{'prompts':['a'],'tree':{'leaf_budget':4,'initial_divergence':8}}",
        "tree.initial_divergence"));
    t.add(bad("zero initial_divergence", "{'prompts':['a'],'tree':{'initial_divergence':0}}", "tree.initial_divergence"));
    t.add(bad("unknown policy", "{'prompts':['a'],'tree':{'policy':'mcts'}}", "tree.policy"));
    t.add(bad("policy unknown parameter", "{'prompts':['a'],'tree':{'policy':'treepo:x=1'}}", "tree.policy"));
    t.add(bad("policy bad enum parameter", "{'prompts':['a'],'tree':{'policy':'treepo:divergence=wide'}}", "tree.policy"));
    t.add(bad("policy zero factor", "{'prompts':['a'],'tree':{'policy':'random:factor=0'}}", "tree.policy"));
    t.add(bad("policy bad depths", "{'prompts':['a'],'tree':{'policy':'fixed:depths=a'}}", "tree.policy"));
    t.add(bad("policy negative temperature", "{'prompts':['a'],'tree':{'policy':'treepo:temperature=-1'}}", "tree.policy"));
    t.add(bad("policy parameter without value", "{'prompts':['a'],'tree':{'policy':'entropy:threshold'}}", "tree.policy"));
    t.add(bad("policy empty", "{'prompts':['a'],'tree':{'policy':''}}", "tree.policy"));
    t.add(bad("policy a number", "{'prompts':['a'],'tree':{'policy':5}}", "tree.policy"));
    t.add(bad("unknown repetition", "{'prompts':['a'],'tree':{'repetition':'sometimes'}}", "tree.repetition"));
    t.add(bad("stop_on_answer a string", "{'prompts':['a'],'tree':{'stop_on_answer':'yes'}}", "tree.stop_on_answer"));

    // Sampling.
    t.add(bad("sampling a number", "{'prompts':['a'],'sampling':5}", "sampling"));
    t.add(bad("unknown sampling field", "{'prompts':['a'],'sampling':{'max_tokens':5}}", "sampling.max_tokens"));
    t.add(bad("negative temperature", "{'prompts':['a'],'sampling':{'temperature':-1}}", "sampling.temperature"));
    t.add(bad("huge temperature", "{'prompts':['a'],'sampling':{'temperature':101}}", "sampling.temperature"));
    t.add(bad("temperature 1e400", "{'prompts':['a'],'sampling':{'temperature':1e400}}", "sampling.temperature"));
    t.add(bad("temperature a string", "{'prompts':['a'],'sampling':{'temperature':'hot'}}", "sampling.temperature"));
    t.add(bad("zero top_p", "{'prompts':['a'],'sampling':{'top_p':0}}", "sampling.top_p"));
    t.add(bad("negative top_p", "{'prompts':['a'],'sampling':{'top_p':-0.5}}", "sampling.top_p"));
    t.add(bad("top_p over 1", "{'prompts':['a'],'sampling':{'top_p':1.01}}", "sampling.top_p"));
    t.add(bad("negative top_k", "{'prompts':['a'],'sampling':{'top_k':-1}}", "sampling.top_k"));
    t.add(bad("top_k over the vocabulary", "{'prompts':['a'],'sampling':{'top_k':" + (VOCAB + 1) + "}}", "sampling.top_k"));
    t.add(bad("top_k a fraction", "{'prompts':['a'],'sampling':{'top_k':1.5}}", "sampling.top_k"));
    t.add(bad("negative logprobs", "{'prompts':['a'],'sampling':{'logprobs':-1}}", "sampling.logprobs"));
    t.add(bad("huge logprobs", "{'prompts':['a'],'sampling':{'logprobs':1000000}}", "sampling.logprobs"));
    t.add(bad("seed 2^70", "{'prompts':['a'],'sampling':{'seed':" + TWO_POW_70 + "}}", "sampling.seed"));
    t.add(bad("seed a fraction", "{'prompts':['a'],'sampling':{'seed':1.5}}", "sampling.seed"));
    t.add(bad("seed a string", "{'prompts':['a'],'sampling':{'seed':'42'}}", "sampling.seed"));
    t.add(bad("stop_token_ids a number", "{'prompts':['a'],'sampling':{'stop_token_ids':5}}", "sampling.stop_token_ids"));
    t.add(bad("stop token = vocab", "{'prompts':['a'],'sampling':{'stop_token_ids':[" + VOCAB + "]}}",
        "sampling.stop_token_ids[0]"));
    t.add(bad("negative stop token", "{'prompts':['a'],'sampling':{'stop_token_ids':[10,-1]}}",
        "sampling.stop_token_ids[1]"));
    t.add(bad("ignore_eos a string", "{'prompts':['a'],'sampling':{'ignore_eos':'true'}}", "sampling.ignore_eos"));
    t.add(bad("stop a number", "{'prompts':['a'],'sampling':{'stop':5}}", "sampling.stop"));
    t.add(bad("empty stop", "{'prompts':['a'],'sampling':{'stop':['x','']}}", "sampling.stop[1]"));
    t.add(bad("min_p over 1", "{'prompts':['a'],'sampling':{'min_p':2}}", "sampling.min_p"));
    t.add(bad("negative repetition_penalty", "{'prompts':['a'],'sampling':{'repetition_penalty':-1}}",
        "sampling.repetition_penalty"));
    t.add(bad("presence_penalty 3", "{'prompts':['a'],'sampling':{'presence_penalty':3}}", "sampling.presence_penalty"));
    t.add(bad("frequency_penalty a string", "{'prompts':['a'],'sampling':{'frequency_penalty':'x'}}",
        "sampling.frequency_penalty"));
    t.add(bad("logit_bias token = vocab", "{'prompts':['a'],'sampling':{'logit_bias':{'" + VOCAB + "':1}}}",
        "sampling.logit_bias." + VOCAB));
    t.add(bad("chat options without messages", "{'prompts':[{'text':'a','add_generation_prompt':false}]}",
        "prompts[0].add_generation_prompt"));

    // Rollouts by id.
    t.add(raw("unknown id", "GET", "/v1/rollouts/nope", null, null, 404, "id"));
    t.add(raw("cancel unknown id", "DELETE", "/v1/rollouts/nope", null, null, 404, "id"));
    t.add(raw("NUL id", "GET", "/v1/rollouts/%00", null, null, 404, "id"));
    t.add(raw("non-ASCII id", "DELETE", "/v1/rollouts/%C3%A9%FF", null, null, 404, "id"));
    t.add(raw("encoded path traversal", "GET", "/v1/rollouts/..%2F..%2Fetc%2Fpasswd", null, null, 404, "id"));
    t.add(raw("id past the request line limit", "GET", "/v1/rollouts/" + "x".repeat(5000), null, null, 414, null));
    t.add(raw("id past the request line limit, DELETE", "DELETE", "/v1/rollouts/" + "x".repeat(5000), null, null, 414,
        null));
    t.add(raw("no id", "GET", "/v1/rollouts/", null, null, 404, null));
    t.add(raw("id with a slash", "GET", "/v1/rollouts/a/b", null, null, 404, null));
    t.add(raw("POST to an id", "POST", "/v1/rollouts/abc", "application/json", "{}".getBytes(), 404, null));
    t.add(raw("PUT rollouts", "PUT", "/v1/rollouts", "application/json", q("{'prompts':['a']}").getBytes(), 404, null));
    t.add(new Case("headers past the limit", "GET", "/v1/models", null, null, Map.of("X-Junk", "j".repeat(10_000)),
        431, null));

    // Weights.
    t.add(weights("weights without a path", "{}", "path"));
    t.add(weights("weights path a number", "{'path':5}", "path"));
    t.add(weights("weights path missing", "{'path':'/nonexistent/model'}", "path"));
    t.add(weights("weights path empty", "{'path':''}", "path"));
    t.add(weights("weights path with NUL", "{'path':'a\\u0000b'}", "path"));
    t.add(weights("weights path not safetensors", "{'path':'" + TestServer.bundledModel().resolve("config.json")
        .toAbsolutePath() + "'}", "path"));
    t.add(weights("weights path a device", "{'path':'/dev/zero'}", "path"));
    t.add(weights("weights unknown policy", "{'path':'x','policy':'now'}", "policy"));
    t.add(weights("weights zero timeout", "{'path':'x','timeout_s':0}", "timeout_s"));
    t.add(weights("weights timeout 1e400", "{'path':'x','timeout_s':1e400}", "timeout_s"));
    t.add(weights("weights negative version", "{'path':'x','version':-2}", "version"));
    t.add(weights("weights version 2^70", "{'path':'x','version':" + TWO_POW_70 + "}", "version"));
    t.add(weights("weights unknown field", "{'path':'x','force':true}", "force"));
    t.add(weights("weights array body", "[]", null));
    t.add(weights("weights trailing garbage", "{'path':'x'}]", null));
    t.add(raw("weights text/plain", "POST", "/v1/weights", "text/plain", "{}".getBytes(), 415, null));
    t.add(raw("weights raw empty", "POST", "/v1/weights", "application/octet-stream", new byte[0], 400, "body"));
    t.add(raw("weights raw garbage", "POST", "/v1/weights", "application/octet-stream", "garbage!".getBytes(), 400, "body"));
    t.add(raw("weights raw header length past the file", "POST", "/v1/weights", "application/octet-stream",
        bytes(new int[] {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "{}"), 400, "body"));
    t.add(raw("weights raw header not JSON", "POST", "/v1/weights", "application/octet-stream",
        bytes(new int[] {4, 0, 0, 0, 0, 0, 0, 0}, "{{{{"), 400, "body"));
    t.add(raw("weights raw unknown policy", "POST", "/v1/weights?policy=zzz", "application/octet-stream",
        "garbage!".getBytes(), 400, "policy"));
    t.add(raw("weights raw unknown parameter", "POST", "/v1/weights?force=1", "application/octet-stream",
        "garbage!".getBytes(), 400, "force"));
    t.add(raw("weights raw timeout not a number", "POST", "/v1/weights?timeout_s=soon", "application/octet-stream",
        "garbage!".getBytes(), 400, "timeout_s"));
    t.add(raw("weights raw body over the limit", "POST", "/v1/weights", "application/octet-stream",
        new byte[100_000], 413, null));

    // Routes that do not exist.
    t.add(raw("unknown route", "GET", "/nope", null, null, 404, null));
    t.add(raw("singular rollout", "POST", "/v1/rollout", "application/json", q("{'prompts':['a']}").getBytes(), 404,
        null));
    t.add(raw("v2", "GET", "/v2/models", null, null, 404, null));
    t.add(raw("DELETE models", "DELETE", "/v1/models", null, null, 404, null));
    t.add(raw("POST health", "POST", "/health", "application/json", "{}".getBytes(), 404, null));
    t.add(raw("GET weights", "GET", "/v1/weights", null, null, 404, null));
    t.add(raw("PATCH weights", "PATCH", "/v1/weights", "application/json", "{}".getBytes(), 404, null));
    t.add(raw("dot segments", "GET", "/v1/../../etc/passwd", null, null, 404, null));
    return t;
  }

  /** Requests that look odd but are valid: the server must serve them, not refuse them. */
  static List<Case> validControls() {
    List<Case> t = new ArrayList<>();
    t.add(raw("content type with charset", "POST", "/v1/rollouts", "application/json; charset=utf-8",
        q("{'prompts':['a']," + SMALL_TREE + "}").getBytes(), 200, null));
    t.add(raw("content type in capitals", "POST", "/v1/rollouts", "APPLICATION/JSON",
        q("{'prompts':['a']," + SMALL_TREE + "}").getBytes(), 200, null));
    t.add(post("null optional fields", "{'prompts':['a'],'id':null,'tree':null,'sampling':null,'reward':null,"
        + "'estimator':null,'references':null,'stream':null}", 200, null));
    t.add(post("escaped NUL and surrogates in a prompt", "{'prompts':['\\u0000\\ud83d\\ude00'],"
        + SMALL_TREE + "}", 200, null));
    t.add(post("a lone surrogate in a prompt", "{'prompts':['\\ud800x']," + SMALL_TREE + "}", 200, null));
    t.add(raw("UTF-8 byte order mark", "POST", "/v1/rollouts", "application/json",
        bytes(new int[] {0xef, 0xbb, 0xbf}, q("{'prompts':['a']," + SMALL_TREE + "}")), 200, null));
    t.add(post("special tokens by id", "{'prompts':[{'token_ids':[256,257,258]}]," + SMALL_TREE + "}", 200, null));
    t.add(post("prompt and max_tokens exactly fill the context", "{'prompts':['" + "e".repeat(CONTEXT - 8) + "'],"
        + SMALL_TREE + "}", 200, null));
    t.add(post("a reward without references: every score fails, reported", "{'prompts':['a'],'reward':'math'," + SMALL_TREE + "}",
        200, null));
    return t;
  }

  // ---- Sending and checking. ----

  static HttpResponse<String> send(Case c, String kind) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(ts.base() + c.path())).timeout(Duration.ofSeconds(120))
        .method(c.method(), c.body() == null ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofByteArray(c.body()));
    if (c.contentType() != null) {
      b.header("Content-Type", c.contentType());
    }
    c.headers().forEach(b::header);
    sent.merge(kind, 1, Integer::sum);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  static String describe(Case c, HttpResponse<String> r) {
    String body = r.body();
    return c.name() + " (" + c.method() + " " + abbreviate(c.path(), 80) + ") -> " + r.statusCode() + " "
        + abbreviate(body, 400);
  }

  static String abbreviate(String s, int n) {
    return s == null || s.length() <= n ? s : s.substring(0, n) + "...";
  }

  static void check(SoftAssertions soft, Case c, HttpResponse<String> r) {
    String what = describe(c, r);
    soft.assertThat(r.statusCode()).as(what).isEqualTo(c.status());
    if (r.statusCode() >= 500) {
      soft.fail("5xx: " + what);
    }
    if (c.status() >= 400) {
      checkError(soft, what, r, c.status(), c.param());
    } else if (c.path().startsWith("/v1/rollouts")) {
      checkRollout(soft, what, r);
    } else if (c.path().startsWith("/v1/weights")) {
      soft.assertThat(parse(soft, what, r.body()).path("weight_version").isIntegralNumber()).as(what).isTrue();
    }
  }

  /** The error shape: {"error": {"message", "type", "param", "code"}}, naming {@code param}. */
  static void checkError(SoftAssertions soft, String what, HttpResponse<String> r, int status, String param) {
    soft.assertThat(r.headers().firstValue("Content-Type")).as(what).hasValueSatisfying(
        v -> assertThat(v).startsWith("application/json"));
    JsonNode body = parse(soft, what, r.body());
    soft.assertThat(names(body)).as(what).containsExactly("error");
    JsonNode e = body.path("error");
    soft.assertThat(names(e)).as(what).containsExactlyInAnyOrder("message", "type", "param", "code");
    soft.assertThat(e.path("message").isTextual() && !e.path("message").asText().isBlank()).as(what).isTrue();
    soft.assertThat(e.path("message").asText()).as(what).doesNotContainPattern(LEAK);
    soft.assertThat(e.path("type").isTextual()).as(what).isTrue();
    soft.assertThat(e.path("code").isInt() ? e.path("code").asInt() : -1).as(what).isEqualTo(status);
    if (param == null) {
      soft.assertThat(e.path("param").isNull()).as(what + ": param must be null").isTrue();
    } else {
      soft.assertThat(e.path("param").asText(null)).as(what).isEqualTo(param);
    }
  }

  /** A finished rollout, as JSON or as an NDJSON stream ending in "done". */
  static void checkRollout(SoftAssertions soft, String what, HttpResponse<String> r) {
    String type = r.headers().firstValue("Content-Type").orElse("");
    JsonNode done;
    if (type.startsWith("application/x-ndjson")) {
      String[] lines = r.body().strip().split("\n");
      done = parse(soft, what, lines[lines.length - 1]);
      soft.assertThat(done.path("event").asText()).as(what).isEqualTo("done");
    } else {
      done = parse(soft, what, r.body());
      soft.assertThat(done.path("trees").isArray() && !done.path("trees").isEmpty()).as(what).isTrue();
    }
    soft.assertThat(done.path("object").asText()).as(what).isEqualTo("rollout");
    soft.assertThat(done.path("status").asText()).as(what).isEqualTo("completed");
  }

  static JsonNode parse(SoftAssertions soft, String what, String body) {
    try {
      return JSON.readTree(body);
    } catch (Exception e) {
      soft.fail("not JSON: " + what);
      return NODES.objectNode();
    }
  }

  static List<String> names(JsonNode n) {
    List<String> out = new ArrayList<>();
    n.fieldNames().forEachRemaining(out::add);
    return out;
  }

  // ---- The tests. ----

  @Test
  @Order(1)
  void everyHandWrittenBadRequestIsRefusedNamingItsField() throws Exception {
    List<Case> cases = table();
    assertThat(cases).hasSizeGreaterThanOrEqualTo(60);
    SoftAssertions soft = new SoftAssertions();
    for (Case c : cases) {
      check(soft, c, send(c, "table (bad)"));
    }
    for (Case c : validControls()) {
      check(soft, c, send(c, "table (valid controls)"));
    }
    soft.assertAll();
  }

  // Mutations: every field of a good request, replaced by each hostile value, deleted, or given
  // an unknown sibling. Whether the result is still valid is decided per field by a rule written
  // from the API's limits (types and ranges of each field), so each case has one right answer.

  /** The answer a mutated request must get: 200, or 400 naming {@code param}. */
  record Expect(int status, String param) {}

  static final Expect OK = new Expect(200, null);

  static Expect refused(String param) {
    return new Expect(400, param);
  }

  /** The required answer when a field's value becomes {@code v} (Java null: the field was deleted). */
  interface Rule {
    Expect on(JsonNode v);
  }

  /** A value put in place of a field; {@code seen} is what the server parses {@code sent} as. */
  record Hostile(String label, JsonNode sent, JsonNode seen) {}

  static final String HUGE_MARK = "@@1e400@@";

  static List<Hostile> hostileValues() {
    ArrayNode nested = NODES.arrayNode();
    nested.addArray().addObject();
    ObjectNode garbage = NODES.objectNode();
    ArrayNode a = garbage.putArray("a");
    a.addNull();
    a.addObject().putArray("b");
    List<Hostile> out = new ArrayList<>();
    for (JsonNode v : List.of(NODES.nullNode(), NODES.booleanNode(true), NODES.textNode("x"), NODES.textNode(""),
        NODES.numberNode(-1), NODES.numberNode(0), NODES.numberNode(1.5), NODES.numberNode(BigInteger.TWO.pow(70)),
        NODES.arrayNode(), NODES.objectNode(), nested, garbage)) {
      out.add(new Hostile(v.toString(), v, v));
    }
    // 1e400 cannot be written from a tree (it would come out as Infinity, not JSON): a marker is
    // replaced in the text. The server reads it as an infinite double.
    out.add(new Hostile("1e400", NODES.textNode(HUGE_MARK), NODES.numberNode(Double.POSITIVE_INFINITY)));
    return out;
  }

  static boolean absent(JsonNode v) {
    return v == null || v.isNull();
  }

  static boolean isInt(JsonNode v, long min, long max) {
    return v != null && v.isIntegralNumber() && v.canConvertToLong() && v.asLong() >= min && v.asLong() <= max;
  }

  static Rule intIn(String p, long min, long max) {
    return v -> absent(v) || isInt(v, min, max) ? OK : refused(p);
  }

  static Rule numberIn(String p, double min, double max, boolean zero) {
    return v -> {
      if (absent(v)) {
        return OK;
      }
      double x = v.isNumber() ? v.asDouble() : Double.NaN;
      return x >= min && x <= max && (zero || x != 0) ? OK : refused(p);
    };
  }

  static Rule anyLong(String p) {
    return v -> absent(v) || (v.isIntegralNumber() && v.canConvertToLong()) ? OK : refused(p);
  }

  static Rule bool(String p) {
    return v -> absent(v) || v.isBoolean() ? OK : refused(p);
  }

  static Rule oneOf(String p, Set<String> valid) {
    return v -> absent(v) || (v.isTextual() && valid.contains(v.asText())) ? OK : refused(p);
  }

  /** An optional object read strictly: absent or {} is the defaults, a field it lacks is named. */
  static Rule object(String p) {
    return v -> absent(v) ? OK : !v.isObject() ? refused(p) : v.isEmpty() ? OK : refused(p + "." + v.fieldNames().next());
  }

  /** An element of a token id array; deleting one leaves a shorter array, still valid. */
  static Rule tokenId(String p) {
    return v -> v == null || isInt(v, 0, VOCAB - 1) ? OK : refused(p);
  }

  /** A token id array; {@code whenAbsent} is the answer without it, {@code emptyOk} whether [] is valid. */
  static Rule tokenIds(String p, Expect whenAbsent, boolean emptyOk) {
    return v -> {
      if (absent(v)) {
        return whenAbsent;
      }
      if (!v.isArray()) {
        return refused(p);
      }
      if (v.isEmpty()) {
        return emptyOk ? OK : refused(p);
      }
      for (int j = 0; j < v.size(); j++) {
        if (!isInt(v.get(j), 0, VOCAB - 1)) {
          return refused(p + "[" + j + "]");
        }
      }
      return OK;
    };
  }

  /** A prompt: a non-empty string, or an object with exactly one of text and token_ids. */
  static Rule prompt(String p, Expect whenDeleted) {
    return v -> {
      if (v == null) {
        return whenDeleted;
      }
      if (v.isTextual()) {
        return v.asText().isEmpty() ? refused(p) : OK;
      }
      if (v.isObject() && !v.isEmpty()) {
        return refused(p + "." + v.fieldNames().next()); // the hostile objects hold only unknown fields
      }
      return refused(p);
    };
  }

  /** The prompts array of {@code n} prompts; with references, a count other than n is theirs to answer. */
  static Rule prompts(int n, boolean references) {
    return v -> {
      if (absent(v) || !v.isArray() || v.isEmpty()) {
        return refused("prompts");
      }
      for (int j = 0; j < v.size(); j++) {
        Expect e = prompt("prompts[" + j + "]", OK).on(v.get(j));
        if (e != OK) {
          return e;
        }
      }
      return references && v.size() != n ? refused("references") : OK;
    };
  }

  static Rule promptText(String p, String prompt) {
    return v -> absent(v) ? refused(prompt) : v.isTextual() && !v.asText().isEmpty() ? OK : refused(p);
  }

  static Rule references(int n) {
    return v -> {
      if (absent(v)) {
        return OK; // then each answer's score fails (no reference), which the response reports
      }
      if (!v.isArray() || v.size() != n) {
        return refused("references");
      }
      for (int j = 0; j < n; j++) {
        if (!v.get(j).isTextual()) {
          return refused("references[" + j + "]");
        }
      }
      return OK;
    };
  }

  /** A good request, the rule for each of its fields, and where it is sent. */
  record Base(String name, String path, ObjectNode body, Map<String, Rule> rules) {}

  static final String SUM = "Q: 2+3=?\n";

  static Base plainBase() throws Exception {
    ObjectNode body = (ObjectNode) JSON.readTree(q("{'prompts':['Q: 2+3=?\\n',{'text':'Q: 7-4=?\\n'},"
        + "{'token_ids':[50,10]}],"
        + "'tree':{'leaf_budget':2,'segment_length':4,'max_depth':2,'max_tokens':8,'initial_divergence':2,"
        + "'branching_factor':2,'policy':'treepo','stop_on_answer':true,'repetition':'default'},"
        + "'sampling':{'temperature':1.0,'top_p':0.95,'top_k':40,'seed':7,'logprobs':2,'stop_token_ids':[10],"
        + "'ignore_eos':false},'stream':false}"));
    int longest = 9;
    Map<String, Rule> r = new TreeMap<>();
    r.put("prompts", prompts(3, false));
    r.put("prompts[0]", prompt("prompts[0]", OK));
    r.put("prompts[1]", prompt("prompts[1]", OK));
    r.put("prompts[1].text", promptText("prompts[1].text", "prompts[1]"));
    r.put("prompts[2]", prompt("prompts[2]", OK));
    r.put("prompts[2].token_ids", tokenIds("prompts[2].token_ids", refused("prompts[2]"), false));
    r.put("prompts[2].token_ids[0]", tokenId("prompts[2].token_ids[0]"));
    r.put("prompts[2].token_ids[1]", tokenId("prompts[2].token_ids[1]"));
    r.put("tree", object("tree"));
    r.put("tree.leaf_budget", v -> absent(v) ? OK : !isInt(v, 1, 1024) ? refused("tree.leaf_budget")
        : v.asLong() < 2 ? refused("tree.initial_divergence") : OK);
    r.put("tree.segment_length", intIn("tree.segment_length", 1, CONTEXT));
    r.put("tree.max_depth", intIn("tree.max_depth", 1, CONTEXT));
    r.put("tree.max_tokens", v -> absent(v) ? OK : !isInt(v, 1, CONTEXT) ? refused("tree.max_tokens")
        : longest + v.asLong() > CONTEXT ? refused("prompts[0]") : OK);
    r.put("tree.initial_divergence", intIn("tree.initial_divergence", 1, 2));
    r.put("tree.branching_factor", intIn("tree.branching_factor", 1, 64));
    r.put("tree.policy", oneOf("tree.policy", Set.of("treepo", "entropy", "random", "fixed", "rose")));
    r.put("tree.stop_on_answer", bool("tree.stop_on_answer"));
    r.put("tree.repetition", oneOf("tree.repetition", Set.of("default", "off")));
    r.put("sampling", object("sampling"));
    r.put("sampling.temperature", numberIn("sampling.temperature", 0, 100, true));
    r.put("sampling.top_p", numberIn("sampling.top_p", 0, 1, false));
    r.put("sampling.top_k", intIn("sampling.top_k", 0, VOCAB));
    r.put("sampling.seed", anyLong("sampling.seed"));
    r.put("sampling.logprobs", intIn("sampling.logprobs", 0, 100));
    r.put("sampling.stop_token_ids", tokenIds("sampling.stop_token_ids", OK, true));
    r.put("sampling.stop_token_ids[0]", tokenId("sampling.stop_token_ids[0]"));
    r.put("sampling.ignore_eos", bool("sampling.ignore_eos"));
    r.put("stream", bool("stream"));
    return new Base("plain", "/v1/rollouts", body, r);
  }

  static Base rewardedBase() throws Exception {
    ObjectNode body = (ObjectNode) JSON.readTree(q("{'prompts':['Q: 2+3=?\\n','Q: 6-1=?\\n'],'references':['5','5'],"
        + "'reward':'math','estimator':'treepo','tree':{'leaf_budget':2,'segment_length':8,'max_tokens':16},"
        + "'sampling':{'seed':3}}"));
    Map<String, Rule> r = new TreeMap<>();
    r.put("prompts", prompts(2, true));
    r.put("prompts[0]", prompt("prompts[0]", refused("references")));
    r.put("prompts[1]", prompt("prompts[1]", refused("references")));
    r.put("references", references(2));
    r.put("references[0]", v -> v == null ? refused("references") : v.isTextual() ? OK : refused("references[0]"));
    r.put("references[1]", v -> v == null ? refused("references") : v.isTextual() ? OK : refused("references[1]"));
    // Without a reward the references have nothing to score them; no hostile string names a reward.
    r.put("reward", v -> absent(v) ? refused("references") : refused("reward"));
    r.put("estimator", v -> absent(v) ? OK : refused("estimator"));
    r.put("tree", object("tree"));
    r.put("tree.leaf_budget", intIn("tree.leaf_budget", 1, 1024));
    r.put("tree.segment_length", intIn("tree.segment_length", 1, CONTEXT));
    r.put("tree.max_tokens", intIn("tree.max_tokens", 1, CONTEXT - 9));
    r.put("sampling", object("sampling"));
    r.put("sampling.seed", anyLong("sampling.seed"));
    return new Base("rewarded", "/v1/rollouts", body, r);
  }

  /** A weight update with the served model's own weights: valid, and harmless to repeat. */
  static Base weightsBase() {
    ObjectNode body = NODES.objectNode();
    body.put("path", TestServer.bundledModel().toAbsolutePath().toString());
    body.put("policy", "wait");
    body.put("timeout_s", 60);
    Map<String, Rule> r = new TreeMap<>();
    r.put("path", v -> refused("path")); // no hostile value names a model
    r.put("policy", oneOf("policy", Set.of("wait", "abort")));
    r.put("timeout_s", intIn("timeout_s", 1, 86_400));
    return new Base("weights", "/v1/weights", body, r);
  }

  /** A field's place: object keys (String) and array indexes (Integer) from the root. */
  static String display(List<Object> path) {
    StringBuilder s = new StringBuilder();
    for (Object p : path) {
      if (p instanceof Integer i) {
        s.append('[').append(i).append(']');
      } else {
        s.append(s.isEmpty() ? "" : ".").append(p);
      }
    }
    return s.toString();
  }

  static void paths(JsonNode n, List<Object> at, List<List<Object>> fields, List<List<Object>> objects) {
    if (n.isObject()) {
      objects.add(at);
      for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        List<Object> p = new ArrayList<>(at);
        p.add(k);
        fields.add(p);
        paths(n.get(k), p, fields, objects);
      }
    } else if (n.isArray()) {
      for (int i = 0; i < n.size(); i++) {
        List<Object> p = new ArrayList<>(at);
        p.add(i);
        fields.add(p);
        paths(n.get(i), p, fields, objects);
      }
    }
  }

  /** {@code root} with the field at {@code path} set to {@code v}, or removed when v is null. */
  static ObjectNode mutate(ObjectNode root, List<Object> path, JsonNode v) {
    ObjectNode copy = root.deepCopy();
    JsonNode parent = copy;
    for (Object p : path.subList(0, path.size() - 1)) {
      parent = p instanceof Integer i ? parent.get(i) : parent.get((String) p);
    }
    Object last = path.get(path.size() - 1);
    if (last instanceof Integer i) {
      if (v == null) {
        ((ArrayNode) parent).remove(i);
      } else {
        ((ArrayNode) parent).set(i, v);
      }
    } else if (v == null) {
      ((ObjectNode) parent).remove((String) last);
    } else {
      ((ObjectNode) parent).set((String) last, v);
    }
    return copy;
  }

  static Case mutationCase(Base b, String name, ObjectNode body, Expect e) throws Exception {
    String text = JSON.writeValueAsString(body).replace("\"" + HUGE_MARK + "\"", "1e400");
    return raw(b.name() + ": " + name, "POST", b.path(), "application/json", text.getBytes(StandardCharsets.UTF_8),
        e.status(), e.param());
  }

  static List<Case> mutations(Base b) throws Exception {
    List<List<Object>> fields = new ArrayList<>();
    List<List<Object>> objects = new ArrayList<>();
    paths(b.body(), List.of(), fields, objects);
    List<Case> out = new ArrayList<>();
    for (List<Object> f : fields) {
      String where = display(f);
      Rule rule = b.rules().get(where);
      assertThat(rule).as("a rule for " + b.name() + " field " + where).isNotNull();
      for (Hostile h : hostileValues()) {
        out.add(mutationCase(b, where + " = " + h.label(), mutate(b.body(), f, h.sent()), rule.on(h.seen())));
      }
      out.add(mutationCase(b, "delete " + where, mutate(b.body(), f, null), rule.on(null)));
    }
    for (List<Object> o : objects) {
      List<Object> sibling = new ArrayList<>(o);
      sibling.add("zz_unknown");
      out.add(mutationCase(b, "unknown field in " + (o.isEmpty() ? "the body" : display(o)),
          mutate(b.body(), sibling, NODES.numberNode(1)), refused(display(sibling))));
    }
    return out;
  }

  @Test
  @Order(2)
  void mutationsOfGoodRequestsAreRefusedOrServedAsTheirRuleSays() throws Exception {
    List<Base> bases = List.of(plainBase(), rewardedBase(), weightsBase());
    SoftAssertions soft = new SoftAssertions();
    int total = 0;
    for (Base b : bases) {
      // The base itself is good; otherwise every mutation's verdict would be wrong.
      Case good = mutationCase(b, "unchanged", b.body(), OK);
      check(soft, good, send(good, "mutation bases (valid)"));
      for (Case c : mutations(b)) {
        check(soft, c, send(c, c.status() == 200 ? "mutations (still valid)" : "mutations (bad)"));
        total++;
      }
    }
    soft.assertAll();
    assertThat(total).isGreaterThanOrEqualTo(240);
  }

  @Test
  @Order(3)
  void aTakenIdIsRefusedWhileItsRolloutRunsAndOnceItFinished() throws Exception {
    SoftAssertions soft = new SoftAssertions();
    Case first = post("finished", "{'id':'dup-done','prompts':['Q: 2+3=?\\n']," + SMALL_TREE + "}", 200, null);
    check(soft, first, send(first, "duplicate ids"));
    Case again = post("same id once finished", "{'id':'dup-done','prompts':['Q: 4+4=?\\n']}", 409, "id");
    check(soft, again, send(again, "duplicate ids"));
    HttpResponse<String> kept = send(raw("get", "GET", "/v1/rollouts/dup-done", null, null, 200, null), "duplicate ids");
    soft.assertThat(kept.statusCode()).isEqualTo(200);
    soft.assertThat(JSON.readTree(kept.body()).path("id").asText()).isEqualTo("dup-done");

    // Far more work than it gets time for: it is still running when its id is reused, then cancelled.
    Case slow = post("slow", "{'id':'dup-running','prompts':['Q: 2+3=?\\n'],'tree':{'leaf_budget':1024,"
        + "'segment_length':16,'max_tokens':480},'sampling':{'ignore_eos':true}}", 409, null);
    HttpRequest req = HttpRequest.newBuilder(URI.create(ts.base() + "/v1/rollouts")).timeout(Duration.ofSeconds(120))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(slow.body())).build();
    sent.merge("duplicate ids", 1, Integer::sum);
    CompletableFuture<HttpResponse<String>> running = http.sendAsync(req, HttpResponse.BodyHandlers.ofString());
    Case status = raw("status while running", "GET", "/v1/rollouts/dup-running", null, null, 202, null);
    HttpResponse<String> st = send(status, "duplicate ids");
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (st.statusCode() == 404 && System.nanoTime() < end) { // not admitted yet
      Thread.sleep(20);
      st = send(status, "duplicate ids");
    }
    assertThat(st.statusCode()).as(describe(status, st)).isEqualTo(202);
    Case dup = post("same id while running", "{'id':'dup-running','prompts':['Q: 1+1=?\\n']}", 409, "id");
    check(soft, dup, send(dup, "duplicate ids"));
    Case badDup = bad("same id, bad body", "{'id':'dup-running','prompts':[]}", "prompts");
    check(soft, badDup, send(badDup, "duplicate ids"));
    HttpResponse<String> cancel = send(raw("cancel", "DELETE", "/v1/rollouts/dup-running", null, null, 200, null),
        "duplicate ids");
    soft.assertThat(cancel.statusCode()).as(cancel.body()).isEqualTo(200);
    soft.assertThat(JSON.readTree(cancel.body()).path("status").asText()).isEqualTo("cancelled");
    HttpResponse<String> cancelled = running.get(60, TimeUnit.SECONDS);
    check(soft, slow, cancelled);
    Case gone = raw("cancelled rollouts are not kept", "GET", "/v1/rollouts/dup-running", null, null, 404, "id");
    check(soft, gone, send(gone, "duplicate ids"));
    soft.assertAll();
  }

  @Test
  @Order(4)
  void afterwardsAGoodRolloutIsServedAndTheEngineHoldsNothing() throws Exception {
    String good = q("{'prompts':['Q: 2+3=?\\n','Q: 9-4=?\\n'],'references':['5','5'],'reward':'math',"
        + "'estimator':'treepo','tree':{'leaf_budget':4,'segment_length':16,'max_tokens':64},'sampling':{'seed':11}}");
    HttpResponse<String> r = send(raw("good", "POST", "/v1/rollouts", "application/json", good.getBytes(), 200, null),
        "final checks");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode o = JSON.readTree(r.body());
    assertThat(o.path("trees")).hasSize(2);
    assertThat(o.path("stats").path("answers").asInt()).isEqualTo(8);
    assertThat(o.path("rewards").path("scored").asInt()).isEqualTo(8);
    assertThat(o.path("rewards").path("errors").asInt()).isZero();
    assertThat(o.path("advantages")).hasSize(8);
    int checked = 0;
    for (JsonNode row : o.path("advantages")) {
      int n = row.path("responses").size();
      assertThat(n).isPositive();
      for (String col : List.of("response_mask", "old_log_probs", "advantages", "token_level_scores")) {
        assertThat(row.path(col)).as(col).hasSize(n);
      }
      // The reward agrees with the text: the arithmetic model ends with "Answer: <n>".
      String text = text(row.path("responses"));
      Matcher m = Pattern.compile("Answer: (-?\\d+)\\s*$").matcher(text);
      if (m.find()) {
        assertThat(row.path("reward").asDouble()).as(text).isEqualTo(m.group(1).equals("5") ? 1.0 : 0.0);
        checked++;
      }
    }
    assertThat(checked).as("answers that end in an answer line").isPositive();

    EngineStats s = ts.statsWhen(x -> x.liveBranches() == 0 && x.activeRequests() == 0 && x.cacheLocks() == 0
        && x.queuedRequests() == 0, Duration.ofSeconds(30));
    assertThat(s.liveBranches()).as("live branches").isZero();
    assertThat(s.cacheLocks()).as("cache locks").isZero();
    assertThat(s.activeRequests()).as("active requests").isZero();
    assertThat(s.queuedRequests()).as("queued requests").isZero();
    assertThat(s.scoreJobs()).as("score jobs").isZero();
    assertThat(s.pendingWeightSwaps()).as("pending weight swaps").isZero();

    HttpResponse<String> metrics = send(raw("metrics", "GET", "/metrics", null, null, 200, null), "final checks");
    assertThat(metrics.statusCode()).isEqualTo(200);
    assertThat(metric(metrics.body(), "treeroll_live_branches")).isZero();
    assertThat(metric(metrics.body(), "treeroll_http_requests_in_flight")).isZero();
    assertThat(metric(metrics.body(), "treeroll_active_requests")).isZero();
    assertThat(metrics.body()).as("no request was answered 5xx").doesNotContainPattern("status=\"5\\d\\d\"");
  }

  static String text(JsonNode tokens) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    tokens.forEach(t -> {
      if (t.asInt() < 256) {
        b.write(t.asInt());
      }
    });
    return b.toString(StandardCharsets.UTF_8);
  }

  /** The value of an unlabelled Prometheus gauge. */
  static double metric(String text, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + " (\\S+)$").matcher(text);
    assertThat(m.find()).as(name + " in /metrics").isTrue();
    return Double.parseDouble(m.group(1));
  }
}
