package org.treeroll.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.Completion;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.server.ChatTemplate;
import org.treeroll.tree.TreeRollException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Samples responses and prints them as JSON lines, one per response. */
@Command(name = "generate", mixinStandardHelpOptions = true,
    description = "Sample responses; prints one JSON object per response.")
final class GenerateCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();
  @Mixin WeightsOption weights = new WeightsOption();
  @Mixin SamplingOptions sampling = new SamplingOptions();

  @ArgGroup(multiplicity = "1") PromptInput input;

  static final class PromptInput {
    @Option(names = "--prompt", description = "Prompt text (repeatable)") List<String> texts;
    @Option(names = "--prompt-ids", split = ",", description = "Prompt as comma-separated token ids") int[] ids;
  }

  @Option(names = "--chat", description = "Render each --prompt as one user message through the model's chat"
      + " template (its special tokens included), ready for the answer")
  boolean chat;

  @Mixin ChatOptions chatOptions = new ChatOptions();

  @Option(names = {"-n", "--samples"}, defaultValue = "1", description = "Responses per prompt (default: ${DEFAULT-VALUE})")
  int samples;

  @Option(names = "--kv-budget-mb", defaultValue = "256", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
  long kvBudgetMb;

  @Mixin KvDtypeOption kv = new KvDtypeOption();

  @Override
  public Integer call() {
    Cli.count("--samples", samples);
    sampling.check();
    long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
    int promptCount = input.ids != null ? 1 : input.texts.size();
    if ((long) samples * promptCount > Cli.MAX_COUNT) {
      throw new TreeRollException("--samples " + samples + " x " + promptCount + " prompts = "
          + (long) samples * promptCount + " responses; at most " + Cli.MAX_COUNT + " per run");
    }
    try (LoadedModel lm = LoadedModel.open(model.resolve(), weights.precision());
        InferenceSession session = new InferenceSession(lm, kvBytes, kv.kvDtype)) {
      sampling.check(lm.config(), lm.dir().getFileName().toString());
      List<int[]> prompts = new ArrayList<>();
      if (input.ids != null) {
        Cli.checkTokenIds(input.ids, lm.config().vocabSize(), "--prompt-ids");
        prompts.add(input.ids);
      } else {
        ChatTemplate template = ChatTemplate.of(lm.tokenizer().special());
        ChatTemplate.Options rendering = chatOptions.options();
        for (String t : input.texts) {
          // A rendered template carries its own special tokens; a plain text gets the tokenizer's.
          prompts.add(chat ? lm.tokenizer().encode(template.render(List.of(new ChatTemplate.Message("user", t, null)),
              rendering)) : lm.tokenizer().encodePrompt(t));
        }
      }
      List<int[]> expanded = new ArrayList<>();
      for (int[] p : prompts) {
        for (int s = 0; s < samples; s++) {
          expanded.add(p);
        }
      }
      SamplingParams params = sampling.params();
      List<Completion> out = session.generate(expanded, params).join();
      ObjectMapper json = new ObjectMapper();
      for (int i = 0; i < out.size(); i++) {
        Completion c = out.get(i);
        ObjectNode o = json.createObjectNode();
        o.put("prompt_index", i / samples);
        o.put("sample_index", i % samples);
        o.put("text", params.stop().cut(lm.tokenizer().decode(c.tokens(), false)));
        o.set("token_ids", json.valueToTree(c.tokens()));
        o.set("logprobs", json.valueToTree(c.logProbs()));
        o.set("entropies", json.valueToTree(c.entropies()));
        o.put("finish_reason", c.finishReason().name().toLowerCase());
        if (!c.candidates().isEmpty()) {
          ArrayNode top = o.putArray("top_logprobs");
          for (SampledToken t : c.candidates()) {
            ArrayNode row = top.addArray();
            for (int k = 0; k < t.topIds().length; k++) {
              row.addObject().put("id", t.topIds()[k]).put("logprob", t.topLogProbs()[k]);
            }
          }
        }
        System.out.println(o);
      }
    }
    return 0;
  }
}
