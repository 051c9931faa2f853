package org.treeroll.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import org.treeroll.server.ChatTemplate;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.Option;

/** {@code --chat-var}: variables for the model's chat template, as HF's chat_template_kwargs. */
final class ChatOptions {
  @Option(names = "--chat-var", paramLabel = "NAME=VALUE",
      description = "A variable for the model's chat template (repeatable), e.g. enable_thinking=false, Qwen3's"
          + " thinking switch; true, false and numbers are passed as such, anything else as text")
  Map<String, String> vars = new LinkedHashMap<>();

  /** Rendering ready for the answer, with the variables given. */
  ChatTemplate.Options options() {
    Map<String, Object> out = new LinkedHashMap<>();
    vars.forEach((k, v) -> {
      if (ChatTemplate.Options.RESERVED.contains(k)) {
        throw new TreeRollException("--chat-var " + k + ": set by TreeRoll itself");
      }
      out.put(k, value(v));
    });
    return new ChatTemplate.Options(true, out);
  }

  private static Object value(String v) {
    if (v.equals("true") || v.equals("false")) {
      return Boolean.parseBoolean(v);
    }
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException notInteger) {
      try {
        return Double.parseDouble(v);
      } catch (NumberFormatException text) {
        return v;
      }
    }
  }
}
