package org.treeroll.engine.sampling;

import it.unimi.dsi.fastutil.ints.Int2IntOpenHashMap;
import it.unimi.dsi.fastutil.ints.IntList;
import it.unimi.dsi.fastutil.ints.IntOpenHashSet;
import java.util.Map;
import java.util.TreeMap;
import org.treeroll.tree.TreeRollException;

/**
 * Changes to one branch's raw logits before the temperature, in this order: the repetition
 * penalty (HF's: a token already in the prompt or the branch's output has a positive logit divided
 * by the penalty, a negative one multiplied), the presence and frequency penalties (OpenAI's: minus
 * {@code presence} once and {@code frequency} per occurrence of the token in the branch's output),
 * then the logit bias (added as given). They change which tokens are drawn, never the recorded
 * log-probs (see {@link SamplingParams}).
 *
 * @param repetitionPenalty > 0; 1 disables it
 * @param presencePenalty in [-2, 2]; 0 disables it
 * @param frequencyPenalty in [-2, 2]; 0 disables it
 * @param logitBias token id to the value added to its logit, each in [-100, 100]
 */
public record LogitAdjustments(double repetitionPenalty, double presencePenalty, double frequencyPenalty,
    Map<Integer, Double> logitBias) {
  public static final LogitAdjustments NONE = new LogitAdjustments(1, 0, 0, Map.of());

  public LogitAdjustments {
    if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
      throw new TreeRollException("repetition_penalty must be > 0 (1 = off), got " + repetitionPenalty);
    }
    if (!(Math.abs(presencePenalty) <= 2)) {
      throw new TreeRollException("presence_penalty must be in [-2, 2], got " + presencePenalty);
    }
    if (!(Math.abs(frequencyPenalty) <= 2)) {
      throw new TreeRollException("frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
    }
    logitBias = Map.copyOf(new TreeMap<>(logitBias == null ? Map.of() : logitBias));
    for (var e : logitBias.entrySet()) {
      if (e.getKey() < 0) {
        throw new TreeRollException("logit_bias: token id " + e.getKey() + " is negative");
      }
      if (!(Math.abs(e.getValue()) <= 100)) {
        throw new TreeRollException("logit_bias: the bias of token " + e.getKey() + " must be in [-100, 100], got "
            + e.getValue());
      }
    }
  }

  public boolean isNone() {
    return repetitionPenalty == 1 && presencePenalty == 0 && frequencyPenalty == 0 && logitBias.isEmpty();
  }

  /** Adjusts {@code logits}, one row of the vocabulary, in place for a branch with this history. */
  void apply(float[] logits, int[] prompt, IntList output) {
    if (repetitionPenalty != 1) {
      IntOpenHashSet seen = new IntOpenHashSet(prompt);
      seen.addAll(output);
      for (int id : seen) {
        float l = logits[id];
        logits[id] = (float) (l > 0 ? l / repetitionPenalty : l * repetitionPenalty);
      }
    }
    if (presencePenalty != 0 || frequencyPenalty != 0) {
      Int2IntOpenHashMap counts = new Int2IntOpenHashMap();
      output.forEach(id -> counts.addTo(id, 1));
      counts.int2IntEntrySet().fastForEach(e ->
          logits[e.getIntKey()] -= (float) (presencePenalty + frequencyPenalty * e.getIntValue()));
    }
    logitBias.forEach((id, bias) -> logits[id] += bias.floatValue());
  }
}
