package org.treeroll.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.sampling.LogitAdjustments;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.StopStrings;
import picocli.CommandLine.Option;

/** Sampling flags shared by the commands that generate. */
final class SamplingOptions {
  /** Past this the distribution is uniform to within float precision: a larger value is a typo. */
  static final double MAX_TEMPERATURE = 100;

  @Option(names = "--temperature", defaultValue = "1.0", description = "0 = greedy (default: ${DEFAULT-VALUE})")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus mass (default: ${DEFAULT-VALUE})")
  double topP;

  @Option(names = "--top-k", defaultValue = "0", description = "0 = off (default: ${DEFAULT-VALUE})")
  int topK;

  @Option(names = "--max-tokens", defaultValue = "32", description = "Response tokens at most (default: ${DEFAULT-VALUE})")
  int maxTokens;

  @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--logprobs", defaultValue = "0", description = "Top candidates to report per token (default: ${DEFAULT-VALUE})")
  int logprobs;

  @Option(names = "--stop-token-ids", split = ",", description = "Extra ids that end a response")
  int[] stopTokenIds = new int[0];

  @Option(names = "--ignore-eos", description = "Keep sampling past EOS")
  boolean ignoreEos;

  @Option(names = "--stop", description = "Text that ends a response (repeatable); the text is cut where it begins")
  List<String> stop = new ArrayList<>();

  @Option(names = "--include-stop-str", description = "Keep the stop string in the response's text")
  boolean includeStop;

  @Option(names = "--min-p", defaultValue = "0", description = "Drop tokens less likely than this times the most"
      + " likely; 0 = off (default: ${DEFAULT-VALUE})")
  double minP;

  @Option(names = "--repetition-penalty", defaultValue = "1", description = "HF's, over prompt and response;"
      + " 1 = off (default: ${DEFAULT-VALUE})")
  double repetitionPenalty;

  @Option(names = "--presence-penalty", defaultValue = "0", description = "OpenAI's, over the response, in [-2, 2]"
      + " (default: ${DEFAULT-VALUE})")
  double presencePenalty;

  @Option(names = "--frequency-penalty", defaultValue = "0", description = "OpenAI's, over the response, in [-2, 2]"
      + " (default: ${DEFAULT-VALUE})")
  double frequencyPenalty;

  @Option(names = "--batch-invariant", description = "Batch-invariant, replayable decoding: with the same --seed,"
      + " bitwise the same tokens and log-probs alone, in any batch and from run to run (slower; CPU, JDK 22+)")
  boolean batchInvariant;

  /** The bounds that need no model; {@link #check(ModelConfig, String)} the rest once it is loaded. */
  void check() {
    Cli.inRange("--temperature", temperature, 0, MAX_TEMPERATURE);
    if (!(topP > 0 && topP <= 1)) {
      throw new org.treeroll.tree.TreeRollException("--top-p must be in (0, 1], got " + topP);
    }
    Cli.inRange("--logprobs", logprobs, 0, SamplingParams.MAX_LOGPROBS, "");
    Cli.positive("--max-tokens", maxTokens);
    Cli.inRange("--min-p", minP, 0, 1);
    Cli.inRange("--repetition-penalty", repetitionPenalty, Double.MIN_VALUE, 100);
    Cli.inRange("--presence-penalty", presencePenalty, -2, 2);
    Cli.inRange("--frequency-penalty", frequencyPenalty, -2, 2);
    if (stop.stream().anyMatch(String::isEmpty)) {
      throw new org.treeroll.tree.TreeRollException("--stop must not be empty");
    }
  }

  void check(ModelConfig cfg, String name) {
    Cli.inRange("--top-k", topK, 0, cfg.vocabSize(), name + "'s vocab_size; 0 = off");
    Cli.withinContext("--max-tokens", maxTokens, cfg, name);
    Cli.checkTokenIds(stopTokenIds, cfg.vocabSize(), "--stop-token-ids");
  }

  SamplingParams params() {
    return new SamplingParams(temperature, topP, topK, minP, maxTokens, stopTokenIds, new StopStrings(stop, includeStop),
        new LogitAdjustments(repetitionPenalty, presencePenalty, frequencyPenalty, Map.of()), seed, logprobs, ignoreEos,
        batchInvariant);
  }
}
