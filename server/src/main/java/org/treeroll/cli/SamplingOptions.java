package org.treeroll.cli;

import org.treeroll.engine.sampling.SamplingParams;
import picocli.CommandLine.Option;

/** Sampling flags shared by the commands that generate. */
final class SamplingOptions {
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

  SamplingParams params() {
    return new SamplingParams(temperature, topP, topK, maxTokens, stopTokenIds, seed, logprobs, ignoreEos);
  }
}
