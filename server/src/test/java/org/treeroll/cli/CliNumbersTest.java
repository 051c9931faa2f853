package org.treeroll.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every numeric option of every command, at zero or below and far too large: one line naming the
 * option, before anything big is allocated (no OutOfMemoryError, no internal error). Seeds
 * ({@code --seed}, {@code --model-seed}) take any long and are not listed.
 */
class CliNumbersTest {
  static final String MODEL = RolloutCommandTest.MODEL;
  static final String HUGE = "100000000";
  static final String HUGE_MB = "99999999";

  /** command words, then the option and its value; the model-dependent bounds name the model. */
  static Stream<Arguments> cases() {
    List<Arguments> c = new ArrayList<>();
    String[] demo = {"demo", "--model", MODEL, "--out", "/nonexistent/never-written"};
    for (String o : List.of("--problems", "--leaves", "--segment", "--depth")) {
      c.add(row(demo, o, "0", o));
      c.add(row(demo, o, HUGE, o));
    }
    c.add(row(demo, "--temperature", "-1", "--temperature"));
    c.add(row(demo, "--temperature", "1e9", "--temperature"));
    c.add(row(demo, "--temperature", "NaN", "--temperature"));
    c.add(row(cat(demo, "--segment", "64"), "--depth", "64", "max_position_embeddings"));

    String[] gen = {"generate", "--model", MODEL, "--prompt-ids", "1,2"};
    c.add(row(gen, "--samples", "0", "--samples"));
    c.add(row(gen, "-n", HUGE, "--samples"));
    c.add(row(gen, "--kv-budget-mb", "0", "--kv-budget-mb"));
    c.add(row(gen, "--kv-budget-mb", HUGE_MB, "--kv-budget-mb"));
    c.add(row(gen, "--temperature", "-0.5", "--temperature"));
    c.add(row(gen, "--temperature", "1e9", "--temperature"));
    c.add(row(gen, "--top-p", "0", "--top-p"));
    c.add(row(gen, "--top-p", "1.5", "--top-p"));
    c.add(row(gen, "--top-k", "-1", "--top-k"));
    c.add(row(gen, "--top-k", HUGE, "--top-k"));
    c.add(row(gen, "--max-tokens", "0", "--max-tokens"));
    c.add(row(gen, "--max-tokens", HUGE, "--max-tokens"));
    c.add(row(gen, "--logprobs", "-1", "--logprobs"));
    c.add(row(gen, "--logprobs", HUGE, "--logprobs"));
    c.add(row(gen, "--stop-token-ids", "-1", "--stop-token-ids"));
    c.add(row(gen, "--stop-token-ids", HUGE, "--stop-token-ids"));
    c.add(row(gen, "--min-p", "1.5", "--min-p"));
    c.add(row(gen, "--repetition-penalty", "0", "--repetition-penalty"));
    c.add(row(gen, "--presence-penalty", "3", "--presence-penalty"));
    c.add(row(gen, "--frequency-penalty", "-2.5", "--frequency-penalty"));
    c.add(row(gen, "--stop", "", "--stop"));

    String[] score = {"score", "--model", MODEL, "--ids", "1,2"};
    c.add(row(score, "--temperature", "0", "--temperature"));
    c.add(row(score, "--temperature", "1e9", "--temperature"));
    c.add(row(score, "--kv-budget-mb", "-5", "--kv-budget-mb"));
    c.add(row(score, "--kv-budget-mb", HUGE_MB, "--kv-budget-mb"));

    String[] rollout = {"rollout", "--model", MODEL, "--prompts", "/nonexistent/p.jsonl", "--out", "/nonexistent/o"};
    for (String o : List.of("--leaves", "--segment", "--depth", "--batch", "--kv-budget-mb")) {
      c.add(row(rollout, o, "0", o));
      c.add(row(rollout, o, o.equals("--kv-budget-mb") ? HUGE_MB : HUGE, o));
    }
    c.add(row(rollout, "--temperature", "-1", "--temperature"));
    c.add(row(rollout, "--temperature", "1e9", "--temperature"));

    String[] serve = {"serve", "--model", MODEL};
    c.add(row(serve, "--port", "-1", "--port"));
    c.add(row(serve, "--port", "70000", "--port"));
    for (String o : List.of("--kv-budget-mb", "--max-in-flight", "--max-body-mb", "--max-prompt-tokens",
        "--request-timeout-s", "--result-ttl-s", "--max-results")) {
      c.add(row(serve, o, "0", o));
      c.add(row(serve, o, o.equals("--kv-budget-mb") || o.equals("--max-body-mb") ? HUGE_MB : "2000000000", o));
    }

    // Refused before the node joins any cluster.
    String[] router = {"serve", "--router"};
    c.add(row(router, "--cluster-port", "0", "--cluster-port"));
    c.add(row(router, "--cluster-port", "70000", "--cluster-port"));
    c.add(row(router, "--cluster-name", " ", "--cluster-name"));
    c.add(row(router, "--cache-threshold", "1.5", "--cache-threshold"));
    c.add(row(router, "--balance-abs", "-1", "--balance-abs"));
    c.add(row(router, "--balance-rel", "0.5", "--balance-rel"));
    c.add(row(router, "--routing", "random", "--routing"));
    c.add(row(new String[] {"serve", "--cluster"}, "--router", "--port=0", "--router"));

    String[] train = {"train-model", "--out", "/nonexistent/t"};
    for (String o : List.of("--steps", "--batch", "--threads")) {
      c.add(row(train, o, "0", o));
      c.add(row(train, o, HUGE, o));
    }
    for (String o : List.of("--warmup", "--eval", "--checkpoint-every")) {
      c.add(row(train, o, "-1", o));
      c.add(row(train, o, HUGE, o));
    }
    c.add(row(train, "--lr", "0", "--lr"));
    c.add(row(train, "--lr", "1e9", "--lr"));
    c.add(row(train, "--lr", "NaN", "--lr"));
    c.add(row(train, "--levels", "-1,1,1,1", "--levels"));
    c.add(row(train, "--levels", "1e300,1,1,1", "--levels"));

    String[] decode = {"bench", "decode", "--model", MODEL, "--read-gb", "0.01"};
    c.add(row(decode, "--batches", "0", "--batches"));
    c.add(row(decode, "--batches", "1," + HUGE, "--batches"));
    c.add(row(decode, "--prompt-tokens", "0", "--prompt-tokens"));
    c.add(row(decode, "--prompt-tokens", HUGE, "--prompt-tokens"));
    c.add(row(decode, "--steps", "0", "--steps"));
    c.add(row(decode, "--steps", HUGE, "--steps"));
    c.add(row(decode, "--rounds", "0", "--rounds"));
    c.add(row(decode, "--rounds", HUGE, "--rounds"));
    String[] probe = {"bench", "decode", "--model", MODEL};
    c.add(row(probe, "--read-gb", "0", "--read-gb"));
    c.add(row(probe, "--read-gb", "1e9", "--read-gb"));
    c.add(row(probe, "--read-gb", "NaN", "--read-gb"));

    String[] tree = {"bench", "tree", "--model", MODEL};
    for (String o : List.of("--leaves", "--prompts", "--prompt-tokens", "--segment", "--depth", "--kv-budget-mb")) {
      c.add(row(tree, o, "0", o));
      c.add(row(tree, o, o.equals("--kv-budget-mb") ? HUGE_MB : HUGE, o));
    }

    String[] shared = {"bench", "shared-prefix", "--model", MODEL};
    for (String o : List.of("--requests", "--max-tokens", "--kv-budget-mb", "--user-tokens")) {
      c.add(row(shared, o, "0", o));
      c.add(row(shared, o, o.equals("--kv-budget-mb") ? HUGE_MB : HUGE, o));
    }
    c.add(row(shared, "--system-tokens", "-1", "--system-tokens"));
    c.add(row(shared, "--system-tokens", HUGE, "--system-tokens"));

    String[] kv = {"bench", "kv-dtype", "--model", MODEL};
    for (String o : List.of("--prompts", "--prompt-tokens", "--leaves", "--segment", "--depth", "--kv-budget-mb")) {
      c.add(row(kv, o, "0", o));
      c.add(row(kv, o, o.equals("--kv-budget-mb") ? HUGE_MB : HUGE, o));
    }
    c.add(row(kv, "--temperature", "NaN", "--temperature"));

    String[] server = {"bench", "server", "--model", MODEL};
    for (String o : List.of("--concurrency", "--requests", "--leaves")) {
      c.add(row(server, o, "0", o));
      c.add(row(server, o, HUGE, o));
    }
    String[] soak = {"bench", "soak", "--model", MODEL};
    for (String o : List.of("--rollouts", "--every", "--leaves")) {
      c.add(row(soak, o, "0", o));
      c.add(row(soak, o, HUGE, o));
    }
    c.add(row(soak, "--max-growth-pct", "-1", "--max-growth-pct"));
    c.add(row(soak, "--max-growth-pct", "1e9", "--max-growth-pct"));
    String[] rl = {"train-rl", "--model", MODEL};
    c.add(row(rl, "--token-budget", "-1", "--token-budget"));
    c.add(row(rl, "--warmup", "-1", "--warmup"));
    c.add(row(rl, "--warmup", HUGE, "--warmup"));
    c.add(row(rl, "--epochs", "0", "--epochs"));
    c.add(row(rl, "--epochs", "1000", "--epochs"));
    c.add(row(rl, "--kl", "-0.1", "--kl"));
    c.add(row(rl, "--kl", "NaN", "--kl"));
    return c.stream();
  }

  /**
   * Numbers inside component specs ({@code --policy}, {@code --estimator}, {@code --reward}):
   * NaN, infinite or out of range, refused in one line naming the component, the parameter and
   * what is wrong, before the model is loaded.
   */
  static Stream<Arguments> specs() {
    List<Arguments> c = new ArrayList<>();
    String[] demo = {"demo", "--model", MODEL, "--out", "/nonexistent/never-written"};
    String policy = "branching policy '";
    String estimator = "advantage estimator '";
    String http = "http:url=http://127.0.0.1:9/verify,";
    String[][] rows = {
        {"--policy", "treepo:temperature=NaN", policy + "treepo'", "'temperature'", "finite"},
        {"--policy", "treepo:temperature=Infinity", policy + "treepo'", "'temperature'", "finite"},
        {"--policy", "treepo:temperature=-1", policy + "treepo'", "'temperature'", "> 0"},
        {"--policy", "treepo:segment=-1", policy + "treepo'", "'segment'", "no parameter"},
        {"--policy", "fixed:factor=0", policy + "fixed'", "'factor'", "at least 1"},
        {"--policy", "fixed:factor=1e9", policy + "fixed'", "'factor'", "an integer"},
        {"--policy", "fixed:depths=5/-1", policy + "fixed'", "'depths'", "depths >= 1"},
        {"--policy", "entropy:threshold=NaN", policy + "entropy'", "'threshold'", "finite"},
        {"--policy", "entropy:threshold=-Infinity", policy + "entropy'", "'threshold'", "finite"},
        {"--policy", "entropy:factor=-2", policy + "entropy'", "'factor'", "at least 1"},
        {"--policy", "rose:epsilon=NaN", policy + "rose'", "'epsilon'", "finite"},
        {"--policy", "rose:epsilon=1.5", policy + "rose'", "'epsilon'", "between 0 and 1"},
        {"--policy", "rose:k=1", policy + "rose'", "'k'", "between 2 and 100"},
        {"--policy", "rose:k=" + HUGE, policy + "rose'", "'k'", "between 2 and 100"},
        {"--policy", "rose:per_round=0", policy + "rose'", "'per_round'", "at least 1"},
        {"--policy", "random:factor=0", policy + "random'", "'factor'", "at least 1"},
        {"--estimator", "rose:lambda=NaN", estimator + "rose'", "'lambda'", "finite"},
        {"--estimator", "rose:lambda=Infinity", estimator + "rose'", "'lambda'", "finite"},
        {"--estimator", "rose:lambda=-1", estimator + "rose'", "'lambda'", ">= 0"},
        {"--estimator", "rose:correct=NaN", estimator + "rose'", "'correct'", "finite"},
        {"--estimator", "grpo:eps=NaN", estimator + "grpo'", "'eps'", "finite"},
        {"--estimator", "grpo:eps=-1", estimator + "grpo'", "'eps'", ">= 0"},
        {"--reward", http + "timeout_ms=NaN", "http", "'timeout_ms'", "whole number"},
        {"--reward", http + "timeout_ms=0", "http", "'timeout_ms'", "at least 1"},
        {"--reward", http + "retries=-1", "http", "'retries'", "between 0 and 20"},
        {"--reward", http + "retries=" + HUGE, "http", "'retries'", "between 0 and 20"},
        {"--reward", http + "retries=1e3", "http", "'retries'", "an integer"},
        {"--reward", http + "backoff_ms=-5", "http", "'backoff_ms'", "whole number"},
        {"--reward", http + "connections=0", "http", "'connections'", "at least 1"},
        {"--reward", http + "cache_size=-1", "http", "'cache_size'", "whole number"},
        {"--reward", http + "cache_expiry_ms=0", "http", "'cache_expiry_ms'", "positive"}};
    for (String[] r : rows) {
      c.add(row(demo, r[0], r[1], java.util.Arrays.copyOfRange(r, 2, r.length)));
    }
    c.add(row(new String[] {"analyze", "/nonexistent/trees.jsonl"}, "--estimator", "rose:lambda=NaN",
        estimator + "rose'", "'lambda'", "finite"));
    c.add(row(new String[] {"train-rl", "--model", MODEL}, "--estimator", "grpo:eps=Infinity",
        estimator + "grpo'", "'eps'", "finite"));
    c.add(row(new String[] {"train-rl", "--model", MODEL, "--config", "treepo-trees"}, "--policy", "rose:k=0",
        policy + "rose'", "'k'", "between 2 and 100"));
    c.add(row(new String[] {"rollout", "--model", MODEL, "--prompts", "/nonexistent/p.jsonl", "--out", "/nonexistent/o"},
        "--policy", "treepo:temperature=NaN", policy + "treepo'", "'temperature'", "finite"));
    return c.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("specs")
  @Timeout(60)
  void specNumbersRefusedInOneLineNamingComponentAndParameter(String shown, String[] args, String[] fragments) {
    CliRun.of(args).assertOneLineError(fragments);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  @Timeout(60)
  void refusedInOneLineNamingTheOption(String shown, String[] args, String fragment) {
    CliRun.of(args).assertOneLineError(fragment);
  }

  private static Arguments row(String[] command, String option, String value, String fragment) {
    String[] args = cat(command, option, value);
    return Arguments.of(String.join(" ", List.of(args)).replace(MODEL, "MODEL"), args, fragment);
  }

  private static Arguments row(String[] command, String option, String value, String... fragments) {
    String[] args = cat(command, option, value);
    return Arguments.of(String.join(" ", List.of(args)).replace(MODEL, "MODEL"), args, fragments);
  }

  private static String[] cat(String[] a, String... b) {
    String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, r, a.length, b.length);
    return r;
  }
}
