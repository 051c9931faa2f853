package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.treeroll.engine.tokenizer.TextTokenizer;

/** Chat templates rendered as HF's Jinja2 renders them, and the fallback for checkpoints without one. */
class ChatTemplateTest {
  static final List<ChatTemplate.Message> CONVERSATION = List.of(
      new ChatTemplate.Message("system", "Be brief.", null),
      new ChatTemplate.Message("user", "Hi", null),
      new ChatTemplate.Message("assistant", "<think>\nhmm\n</think>\n\nHello", null),
      new ChatTemplate.Message("user", "What is 2+2?", null));

  @Test
  void withoutATemplateEachMessageIsALineAndTheAnswerFollows() {
    ChatTemplate t = ChatTemplate.of(null, null, "<|endoftext|>");
    assertThat(t.isModelTemplate()).isFalse();
    assertThat(t.render(List.of(new ChatTemplate.Message("user", "Q: 2+3=?", null)))).isEqualTo("Q: 2+3=?\n");
    assertThat(t.render(CONVERSATION)).isEqualTo("Be brief.\nHi\n<think>\nhmm\n</think>\n\nHello\nWhat is 2+2?\n");
  }

  @Test
  void theBundledModelHasNoTemplate() {
    Path dir = Path.of(System.getProperty("treeroll.models.dir", "../models")).resolve("treeroll-arith");
    try (TextTokenizer tok = TextTokenizer.load(dir)) {
      assertThat(tok.special().chatTemplate()).isNull();
      assertThat(ChatTemplate.of(tok.special()).isModelTemplate()).isFalse();
    }
  }

  @Test
  void aChatMlTemplateWithTrimmingAndBosRendersLikeJinja2() {
    String tpl = "{{ bos_token }}{% for m in messages %}\n"
        + "  {{- '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' -}}\n"
        + "{% endfor %}\n"
        + "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    ChatTemplate t = ChatTemplate.of(tpl, "<s>", "</s>");
    assertThat(t.render(List.of(new ChatTemplate.Message("system", " S ", null),
        new ChatTemplate.Message("user", "U", null))))
        .isEqualTo("<s><|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
  }

  /** The real Qwen3 template (namespace, [::-1], str methods): the text HF's apply_chat_template gives. */
  @Test
  void qwen3sOwnTemplateRendersAsHfDoes() throws Exception {
    Path config = Path.of(System.getProperty("treeroll.tokenizers.dir", "../.cache/tokenizers"))
        .resolve("qwen3/tokenizer_config.json");
    assertThat(config).as("run scripts/fetch-tokenizers.sh").exists();
    String tpl = new ObjectMapper().readTree(Files.readString(config)).get("chat_template").asText();
    ChatTemplate t = ChatTemplate.of(tpl, null, "<|im_end|>");
    assertThat(t.isModelTemplate()).isTrue();
    assertThat(t.render(CONVERSATION)).isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n"
        + "<|im_start|>user\nHi<|im_end|>\n"
        + "<|im_start|>assistant\nHello<|im_end|>\n" // an earlier turn's thinking is dropped
        + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        + "<|im_start|>assistant\n");
    // The last assistant turn after the last user query keeps its thinking.
    List<ChatTemplate.Message> cont = List.of(new ChatTemplate.Message("user", "Hi", null),
        new ChatTemplate.Message("assistant", "<think>\nhmm\n</think>\n\nHello", null));
    assertThat(t.render(cont)).isEqualTo("<|im_start|>user\nHi<|im_end|>\n"
        + "<|im_start|>assistant\n<think>\nhmm\n</think>\n\nHello<|im_end|>\n<|im_start|>assistant\n");
  }

  @Test
  void aConversationTheTemplateRaisesOnIsA400NamingMessages() {
    String tpl = "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
        + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        + "{% endif %}{{ m.content }}{% endfor %}";
    ChatTemplate t = ChatTemplate.of(tpl, null, null);
    assertThat(t.render(List.of(new ChatTemplate.Message("user", "a", null)))).isEqualTo("a");
    assertThatThrownBy(() -> t.render(List.of(new ChatTemplate.Message("assistant", "a", null))))
        .isInstanceOfSatisfying(ApiError.class, e -> {
          assertThat(e.status).isEqualTo(400);
          assertThat(e.param).isEqualTo("messages");
          assertThat(e.getMessage()).contains("Conversation roles must alternate");
        });
  }

  @Test
  void pythonStringMethodsWork() {
    ChatTemplate t = ChatTemplate.of("{% for m in messages %}[{{ m.content.strip() }}|{{ m.content.lstrip('x') }}|"
        + "{{ m.content.rstrip('x ') }}|{{ m.content.startswith('x') }}|{{ m.content.endswith(('q', 'x ')) }}|"
        + "{{ m.content.split('a')|length }}|{{ m.content.split()|join(',') }}|{{ m.content.upper() }}|"
        + "{{ m.get('name', 'none') }}|{{ m.content.replace('a', 'b') }}]{% endfor %}", null, null);
    assertThat(t.render(List.of(new ChatTemplate.Message("user", "xa ax ", null))))
        .isEqualTo("[xa ax|a ax |xa a|true|true|3|xa,ax|XA AX |none|xb bx ]");
  }

  @Test
  void theRewritesTouchOnlyExpressionsAndNeverStrings() {
    assertThat(ChatTemplate.compatible("{%- set ns = namespace(a=x|length - 1, b=f(1, c=2)) %}"))
        .isEqualTo("{%- set ns = namespace(a=(x|length - 1), b=(f(1, c=(2)))) %}");
    assertThat(ChatTemplate.compatible("{% for m in messages[::-1] %}a=b - 1 [::-1]{% endfor %}"))
        .isEqualTo("{% for m in messages|reverse|list %}a=b - 1 [::-1]{% endfor %}");
    assertThat(ChatTemplate.compatible("{{ f('a=b - 1, [::-1]') == x }}")).isEqualTo("{{ f('a=b - 1, [::-1]') == x }}");
    assertThat(ChatTemplate.compatible("{{ f(x == 1) }}")).isEqualTo("{{ f(x == 1) }}");
  }
}
