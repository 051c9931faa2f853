package org.treeroll.server;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import jinjava.javax.el.CompositeELResolver;
import org.treeroll.engine.tokenizer.SpecialTokens;

/**
 * Turns chat messages into the prompt text the checkpoint was trained on: its own Jinja chat
 * template (tokenizer_config.json's {@code chat_template}, rendered through Jinjava as HF's
 * {@code apply_chat_template} does: trim_blocks, lstrip_blocks, {@code add_generation_prompt},
 * bos_token and eos_token set, and extra variables such as Qwen3's {@code enable_thinking}), or,
 * for a checkpoint without one, the fallback: each message's content on its own line, after which
 * the answer begins (docs/http-api.md). The text carries the template's special tokens (a BOS
 * among them), so it is encoded with {@code TextTokenizer.encode}, which adds none.
 *
 * <p>HF templates are written for Python's Jinja2. Jinjava lacks a few of its features, so the
 * template gets them here: Python's string methods ({@link PythonStringMethods}),
 * {@code raise_exception}, {@code strftime_now}, and two rewrites of the template text
 * ({@link #compatible}): {@code x[::-1]} becomes {@code x|reverse|list}, and keyword-argument
 * values are parenthesised, since Jinjava binds {@code a=b - 1} as {@code (a=b) - 1}.
 */
public final class ChatTemplate {
  /** One chat message: its role and its text (text parts already joined); {@code name} may be null. */
  public record Message(String role, String content, String name) {}

  /**
   * How a conversation is rendered.
   *
   * @param addGenerationPrompt end with the header the assistant's answer follows
   * @param variables further template variables (HF's {@code chat_template_kwargs}), e.g.
   *     {@code enable_thinking: false} for Qwen3
   */
  public record Options(boolean addGenerationPrompt, Map<String, Object> variables) {
    /** The variables the renderer sets itself. */
    public static final java.util.Set<String> RESERVED =
        java.util.Set.of("messages", "add_generation_prompt", "bos_token", "eos_token");

    /** Ready for the answer to begin, no further variables. */
    public static final Options ANSWER = new Options(true, Map.of());

    public Options {
      variables = Map.copyOf(variables);
      for (String k : variables.keySet()) {
        if (RESERVED.contains(k)) {
          throw new IllegalArgumentException(k + " is set by the renderer");
        }
      }
    }
  }

  private static final Pattern REVERSE_SLICE = Pattern.compile("\\[\\s*:\\s*:\\s*-1\\s*\\]");

  private final String template;
  private final String bosToken;
  private final String eosToken;
  private final Jinjava jinja;

  private ChatTemplate(String template, String bosToken, String eosToken) {
    this.template = template == null ? null : compatible(template);
    this.bosToken = bosToken == null ? "" : bosToken;
    this.eosToken = eosToken == null ? "" : eosToken;
    this.jinja = template == null ? null : newJinjava();
  }

  /** The template of a checkpoint's tokenizer_config.json, or the fallback when it has none. */
  public static ChatTemplate of(SpecialTokens special) {
    return new ChatTemplate(special.chatTemplate(), special.bosToken(), special.eosToken());
  }

  static ChatTemplate of(String template, String bosToken, String eosToken) {
    return new ChatTemplate(template, bosToken, eosToken);
  }

  /** Whether the checkpoint has its own template (else the fallback applies). */
  boolean isModelTemplate() {
    return template != null;
  }

  /**
   * The prompt text for {@code messages}, ready for the answer to begin. A conversation the
   * template refuses ({@code raise_exception}) is answered 400 naming {@code messages}.
   */
  public String render(List<Message> messages) {
    return render(messages, Options.ANSWER);
  }

  /** The text for {@code messages} rendered with {@code options}. */
  public String render(List<Message> messages, Options options) {
    if (template == null) {
      StringBuilder s = new StringBuilder();
      messages.forEach(m -> s.append(m.content()).append('\n'));
      return s.toString();
    }
    List<Map<String, Object>> msgs = new ArrayList<>();
    for (Message m : messages) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("role", m.role());
      o.put("content", m.content());
      if (m.name() != null) {
        o.put("name", m.name());
      }
      msgs.add(o);
    }
    Map<String, Object> ctx = new HashMap<>(options.variables());
    ctx.put("messages", msgs);
    ctx.put("add_generation_prompt", options.addGenerationPrompt());
    ctx.put("bos_token", bosToken);
    ctx.put("eos_token", eosToken);
    RenderResult r = jinja.renderForResult(template, ctx);
    for (TemplateError e : r.getErrors()) {
      if (e.getSeverity() != TemplateError.ErrorType.FATAL) {
        continue;
      }
      String refusal = refusal(e.getException());
      if (refusal != null) {
        throw ApiError.badRequest("messages", "the model's chat template refuses this conversation: " + refusal);
      }
      throw new ApiError(500, null, "the model's chat template cannot be rendered (line " + e.getLineno() + "): "
          + e.getMessage());
    }
    return r.getOutput();
  }

  private static String refusal(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof Functions.Refusal r) {
        return r.getMessage();
      }
    }
    return null;
  }

  private static Jinjava newJinjava() {
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new PythonStringMethods());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
    JinjavaConfig config = JinjavaConfig.newBuilder()
        .withTrimBlocks(true)
        .withLstripBlocks(true)
        .withElResolver(resolver)
        // Jinja2's own behaviour where Jinjava kept older defaults: {{- -}} trims, a - b binds as
        // Python does, `for k in dict` iterates keys, loop values may be none.
        .withLegacyOverrides(LegacyOverrides.newBuilder()
            .withUseTrimmingForNotesAndExpressions(true)
            .withUseNaturalOperatorPrecedence(true)
            .withParseWhitespaceControlStrictly(true)
            .withEvaluateMapKeys(true)
            .withIterateOverMapKeys(true)
            .withKeepNullableLoopValues(true)
            .withUsePyishObjectMapper(true)
            .build())
        .build();
    Jinjava j = new Jinjava(config);
    j.getGlobalContext().registerFunction(
        new ELFunctionDefinition("", "raise_exception", Functions.class, "raiseException", String.class));
    j.getGlobalContext().registerFunction(
        new ELFunctionDefinition("", "strftime_now", Functions.class, "strftimeNow", String.class));
    return j;
  }

  /**
   * The template text with the two Jinja2 forms Jinjava cannot parse rewritten (see the class
   * comment). Only the insides of {@code {{ }}} and {@code {% %}} change; string literals never.
   */
  static String compatible(String template) {
    StringBuilder out = new StringBuilder(template.length() + 64);
    int i = 0;
    while (i < template.length()) {
      int open = nextTag(template, i);
      if (open < 0) {
        out.append(template, i, template.length());
        break;
      }
      String close = template.charAt(open + 1) == '{' ? "}}" : "%}";
      int end = endOfTag(template, open + 2, close);
      out.append(template, i, open + 2);
      out.append(rewrite(template.substring(open + 2, end)));
      i = end;
    }
    return out.toString();
  }

  private static int nextTag(String t, int from) {
    int a = t.indexOf("{{", from);
    int b = t.indexOf("{%", from);
    return a < 0 ? b : b < 0 ? a : Math.min(a, b);
  }

  /** Index of the tag's closing delimiter, skipping string literals; the text's end when unclosed. */
  private static int endOfTag(String t, int from, String close) {
    for (int i = from; i < t.length(); i++) {
      char c = t.charAt(i);
      if (c == '\'' || c == '"') {
        i = endOfString(t, i) - 1;
      } else if (t.startsWith(close, i)) {
        return i;
      }
    }
    return t.length();
  }

  /** Index just past the string literal opening at {@code at}. */
  private static int endOfString(String t, int at) {
    char q = t.charAt(at);
    for (int i = at + 1; i < t.length(); i++) {
      if (t.charAt(i) == '\\') {
        i++;
      } else if (t.charAt(i) == q) {
        return i + 1;
      }
    }
    return t.length();
  }

  /** {@code f(a=x - 1, b=y)} to {@code f(a=(x - 1), b=(y))} at any depth, and {@code x[::-1]} to {@code x|reverse|list}. */
  private static String rewrite(String expr) {
    java.util.regex.Matcher reverse = REVERSE_SLICE.matcher(expr);
    StringBuilder out = new StringBuilder(expr.length() + 16);
    // Per open bracket: its kind, and whether a keyword value is open inside it.
    StringBuilder kinds = new StringBuilder();
    List<Boolean> wrapping = new ArrayList<>();
    char last = 0; // the last character outside strings and blanks
    int i = 0;
    while (i < expr.length()) {
      char c = expr.charAt(i);
      if (c == '\'' || c == '"') {
        int e = endOfString(expr, i);
        out.append(expr, i, e);
        i = e;
        last = 'x';
        continue;
      }
      if (c == '[' && reverse.region(i, expr.length()).lookingAt()) {
        out.append("|reverse|list");
        i = reverse.end();
        last = 'x';
        continue;
      }
      int depth = kinds.length();
      boolean inCall = depth > 0 && kinds.charAt(depth - 1) == '(';
      if (inCall && (last == '(' || last == ',') && Character.isJavaIdentifierStart(c)) {
        int j = i;
        while (j < expr.length() && Character.isJavaIdentifierPart(expr.charAt(j))) {
          j++;
        }
        int k = j;
        while (k < expr.length() && expr.charAt(k) == ' ') {
          k++;
        }
        if (k < expr.length() && expr.charAt(k) == '=' && (k + 1 >= expr.length() || expr.charAt(k + 1) != '=')) {
          out.append(expr, i, k + 1).append('(');
          wrapping.set(depth - 1, true);
          i = k + 1;
          last = '=';
          continue;
        }
        out.append(expr, i, j);
        i = j;
        last = 'x';
        continue;
      }
      if (c == '(' || c == '[' || c == '{') {
        kinds.append(c);
        wrapping.add(false);
      } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
        if (wrapping.get(depth - 1)) {
          out.append(')');
        }
        kinds.setLength(depth - 1);
        wrapping.remove(depth - 1);
      } else if (c == ',' && inCall && wrapping.get(depth - 1)) {
        out.append(')');
        wrapping.set(depth - 1, false);
      }
      out.append(c);
      if (c != ' ') {
        last = c;
      }
      i++;
    }
    return out.toString();
  }

  /** Jinja2 globals that HF templates call; public for Jinjava's reflection. */
  public static final class Functions {
    private Functions() {}

    /** What a template raised: the conversation does not fit it. */
    static final class Refusal extends RuntimeException {
      Refusal(String message) {
        super(message);
      }
    }

    public static String raiseException(String message) {
      throw new Refusal(message);
    }

    /** Python's {@code strftime} codes that templates use (%d %b %Y and friends), local time. */
    public static String strftimeNow(String format) {
      ZonedDateTime now = ZonedDateTime.now();
      StringBuilder s = new StringBuilder();
      for (int i = 0; i < format.length(); i++) {
        char c = format.charAt(i);
        if (c != '%' || i + 1 == format.length()) {
          s.append(c);
          continue;
        }
        char code = format.charAt(++i);
        String pattern = switch (code) {
          case 'd' -> "dd";
          case 'm' -> "MM";
          case 'y' -> "yy";
          case 'Y' -> "yyyy";
          case 'b' -> "MMM";
          case 'B' -> "MMMM";
          case 'a' -> "EEE";
          case 'A' -> "EEEE";
          case 'H' -> "HH";
          case 'M' -> "mm";
          case 'S' -> "ss";
          default -> null;
        };
        s.append(pattern == null ? "%" + code : now.format(DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH)));
      }
      return s.toString();
    }
  }
}
