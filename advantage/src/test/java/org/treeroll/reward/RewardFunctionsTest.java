package org.treeroll.reward;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

class RewardFunctionsTest {
  private static Vertx vertx;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get();
  }

  private static Reward score(String spec, String response, String reference) {
    try (RewardFunction f = RewardFunctions.create(spec)) {
      return f.score(new RewardRequest("What is it?", response, reference)).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join();
    }
  }

  @Test
  void exactComparesTheTrimmedFinalAnswer() {
    assertThat(score("exact", "Work...\nAnswer: 42\n", " 42 ")).isEqualTo(Reward.of(1));
    assertThat(score("exact", "Answer: 42.0\n", "42")).isEqualTo(Reward.of(0));
    assertThat(score("exact", "I do not know", "42")).isEqualTo(Reward.of(0));
    assertThat(score("exact", "Answer: 42\n", null).error()).isEqualTo("exact: the request has no reference answer");
  }

  @Test
  void mathComparesNormalisedFinalAnswers() {
    assertThat(score("math", "so \\boxed{0.5}", "\\frac{1}{2}")).isEqualTo(Reward.of(1));
    assertThat(score("MATH", "#### 1,000", "1000")).isEqualTo(Reward.of(1));
    assertThat(score("math", "#### 999", "1000")).isEqualTo(Reward.of(0));
    assertThat(score("math", "no answer here", "1000")).isEqualTo(Reward.of(0));
    assertThat(score("math", "#### 1", null).ok()).isFalse();
  }

  @Test
  void regexWithoutAGroupChecksTheFormat() {
    // The pattern's comma survives the spec grammar, which splits parameters on commas.
    String spec = "regex:pattern=\\b\\d{1,3} apples";
    assertThat(score(spec, "I have 12 apples", null)).isEqualTo(Reward.of(1));
    assertThat(score(spec, "I have 1234 apples", null)).isEqualTo(Reward.of(0));
    assertThat(((RegexReward) RewardFunctions.create(spec)).pattern().pattern()).isEqualTo("\\b\\d{1,3} apples");
  }

  @Test
  void regexWithAGroupComparesTheLastCaptureWithTheReference() {
    assertThat(score("regex:pattern=Final: (\\d+)", "Final: 3 ... no. Final: 7", "7")).isEqualTo(Reward.of(1));
    assertThat(score("regex:pattern=Final: (\\d+)", "Final: 7 ... no. Final: 3", "7")).isEqualTo(Reward.of(0));
    assertThat(score("regex:pattern=Final: (\\d+)", "nothing", "7")).isEqualTo(Reward.of(0));
    assertThat(score("regex:pattern=Final: (\\d+)", "Final: 7", null).error()).contains("no reference");
    assertThat(score("regex:compare=math,pattern=(x)?ans=(?<answer>\\S+)", "ans=0.5 done", "1/2")).isEqualTo(Reward.of(1));
    assertThat(score("regex:pattern=ans=(?<answer>\\S+)", "ans=0.5 done", "1/2")).isEqualTo(Reward.of(0));
  }

  @Test
  void httpTakesItsSettingsFromTheSpec() {
    try (RewardFunction f = RewardFunctions.create(
        "http:url=http://127.0.0.1:9/verify,timeout_ms=2000,retries=3,backoff_ms=50,cache_size=10", vertx)) {
      HttpVerifierConfig c = ((HttpVerifier) f).config();
      assertThat(f.name()).isEqualTo("http");
      assertThat(c.url().toString()).isEqualTo("http://127.0.0.1:9/verify");
      assertThat(c.timeout()).isEqualTo(Duration.ofMillis(2000));
      assertThat(c.retries()).isEqualTo(3);
      assertThat(c.backoff()).isEqualTo(Duration.ofMillis(50));
      assertThat(c.cacheSize()).isEqualTo(10);
    }
  }

  @Test
  void badNamesAndParametersAreNamedWithTheValidOnes() {
    assertThat(RewardFunctions.names()).containsExactly("exact", "http", "math", "regex");
    assertThatThrownBy(() -> RewardFunctions.create("fuzzy")).isInstanceOf(TreeRollException.class)
        .hasMessage("unknown reward function 'fuzzy'; valid: exact, http, math, regex");
    assertThatThrownBy(() -> RewardFunctions.create("math:strict=true")).isInstanceOf(TreeRollException.class)
        .hasMessage("reward function 'math' has no parameter 'strict'; valid: none");
    assertThatThrownBy(() -> RewardFunctions.create("regex")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("parameter 'pattern' is required");
    assertThatThrownBy(() -> RewardFunctions.create("regex:pattern=(")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("parameter 'pattern' is not a valid regular expression");
    assertThatThrownBy(() -> RewardFunctions.create("regex:compare=fuzzy,pattern=a"))
        .hasMessage("reward function 'regex': parameter 'compare' must be exact or math, got 'fuzzy'");
    assertThatThrownBy(() -> RewardFunctions.create("regex:flags=i,pattern=a"))
        .hasMessage("reward function 'regex' has no parameter 'flags'; valid: compare, pattern");
    assertThatThrownBy(() -> RewardFunctions.create("http")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("parameter 'url' is required");
    assertThatThrownBy(() -> RewardFunctions.create("http:url=ftp://host/x"))
        .hasMessageContaining("parameter 'url' must be an http:// or https:// address");
    assertThatThrownBy(() -> RewardFunctions.create("http:url=http://h/x,timeout=5"))
        .hasMessage("reward function 'http' has no parameter 'timeout'; valid: backoff_ms, cache_expiry_ms, "
            + "cache_size, connections, retries, timeout_ms, url");
    assertThatThrownBy(() -> RewardFunctions.create("http:url=http://h/x,timeout_ms=soon"))
        .hasMessage("reward function 'http': parameter 'timeout_ms' must be a whole number of 0 or more, got 'soon'");
    assertThatThrownBy(() -> RewardFunctions.create("http:url=http://h/x,timeout_ms=0"))
        .hasMessageContaining("parameter 'timeout_ms' must be at least 1");
    assertThatThrownBy(() -> RewardFunctions.create("http:url=http://h/x,retries=-1"))
        .hasMessageContaining("parameter 'retries' must be between 0 and 20, got -1");
    assertThatThrownBy(() -> RewardFunctions.create("http:url=http://h/x,retries=two"))
        .hasMessageContaining("parameter 'retries' must be an integer, got 'two'");
  }

  @Test
  void aRewardIsAValueOrAnErrorNeverBoth() {
    assertThat(Reward.of(0.5).ok()).isTrue();
    assertThat(Reward.failed("down").value()).isNaN();
    assertThatThrownBy(() -> new Reward(1, "down")).isInstanceOf(TreeRollException.class).hasMessageContaining("no value");
    assertThatThrownBy(() -> new Reward(Double.NaN, null)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("value must be finite");
    assertThatThrownBy(() -> Reward.failed(" ")).hasMessageContaining("error is blank");
    assertThatThrownBy(() -> new RewardRequest("p", null, "r")).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("response is null");
    assertThatThrownBy(() -> new RewardRequest(null, "x", "r")).hasMessageContaining("prompt is null");
  }
}
