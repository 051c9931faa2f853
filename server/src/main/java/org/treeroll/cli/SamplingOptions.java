package org.treeroll.cli;

import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.sampling.SamplingParams;
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

  /** The bounds that need no model; {@link #check(ModelConfig, String)} the rest once it is loaded. */
  void check() {
    Cli.inRange("--temperature", temperature, 0, MAX_TEMPERATURE);
    if (!(topP > 0 && topP <= 1)) {
      throw new org.treeroll.tree.TreeRollException("--top-p must be in (0, 1], got " + topP);
    }
    Cli.inRange("--logprobs", logprobs, 0, SamplingParams.MAX_LOGPROBS, "");
    Cli.positive("--max-tokens", maxTokens);
  }

  void check(ModelConfig cfg, String name) {
    Cli.inRange("--top-k", topK, 0, cfg.vocabSize(), name + "'s vocab_size; 0 = off");
    Cli.withinContext("--max-tokens", maxTokens, cfg, name);
    Cli.checkTokenIds(stopTokenIds, cfg.vocabSize(), "--stop-token-ids");
  }

  SamplingParams params() {
    return new SamplingParams(temperature, topP, topK, maxTokens, stopTokenIds, seed, logprobs, ignoreEos);
  }
}
