package org.treeroll.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.concurrent.Callable;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;
import org.treeroll.engine.runtime.TokenScores;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Teacher-forced log-prob of every token of a text, as a trainer recomputes old log-probs. */
@Command(name = "score", mixinStandardHelpOptions = true,
    description = "Print the teacher-forced log-prob of every token as JSON.")
final class ScoreCommand implements Callable<Integer> {
  @Mixin ModelOption model = new ModelOption();
  @Mixin WeightsOption weights = new WeightsOption();

  @ArgGroup(multiplicity = "1") Input input;

  static final class Input {
    @Option(names = "--text", description = "Text to score") String text;
    @Option(names = "--ids", split = ",", description = "Comma-separated token ids to score") int[] ids;
  }

  @Option(names = "--temperature", defaultValue = "1.0", description = "Temperature of the scored distribution (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--kv-budget-mb", defaultValue = "256", description = "KV cache budget (default: ${DEFAULT-VALUE} MB)")
  long kvBudgetMb;

  @Mixin KvDtypeOption kv = new KvDtypeOption();

  @Override
  public Integer call() {
    if (!(temperature > 0 && temperature <= SamplingOptions.MAX_TEMPERATURE)) {
      throw new org.treeroll.tree.TreeRollException("--temperature must be in (0, " + SamplingOptions.MAX_TEMPERATURE
          + "], got " + temperature);
    }
    long kvBytes = Cli.kvBudgetBytes("--kv-budget-mb", kvBudgetMb);
    try (LoadedModel lm = LoadedModel.open(model.resolve(), weights.precision());
        InferenceSession session = new InferenceSession(lm, kvBytes, kv.kvDtype)) {
      int[] ids = input.ids != null ? input.ids : lm.tokenizer().encodePrompt(input.text);
      Cli.checkTokenIds(ids, lm.config().vocabSize(), input.ids != null ? "--ids" : "--text");
      TokenScores s = session.score(List.of(ids), temperature).join().get(0);
      ObjectMapper json = new ObjectMapper();
      ObjectNode o = json.createObjectNode();
      o.put("temperature", temperature);
      ArrayNode tokens = o.putArray("tokens");
      double sum = 0;
      for (int i = 0; i < ids.length; i++) {
        ObjectNode t = tokens.addObject();
        t.put("id", ids[i]);
        t.put("text", lm.tokenizer().decode(new int[] {ids[i]}, false));
        if (i == 0) {
          t.putNull("logprob"); // the first token has no context to be scored in
          t.putNull("entropy");
        } else {
          t.put("logprob", s.logProbs()[i - 1]);
          t.put("entropy", s.entropies()[i - 1]);
          sum += s.logProbs()[i - 1];
        }
      }
      o.put("sum_logprob", sum);
      System.out.println(json.writerWithDefaultPrettyPrinter().writeValueAsString(o));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    return 0;
  }
}
