package org.treeroll.engine.scheduler;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.treeroll.engine.runtime.KvStore;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.runtime.SequenceChunk;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.engine.sampling.SamplingParams;

/** Runs the model's batched forward steps for the scheduler, counting the work per request. */
final class ForwardPass {
  private final Model model;
  private final KvStore kv;
  private final Counters total;
  private volatile Consumer<StepTiming> listener = t -> {};

  ForwardPass(Model model, KvStore kv, Counters total) {
    this.model = model;
    this.kv = kv;
    this.total = total;
  }

  void setListener(Consumer<StepTiming> listener) {
    this.listener = listener;
  }

  /**
   * One step for branches; row {@code r} of the result is {@code owners.get(r)}'s next
   * distribution. {@code decode}: every chunk is one freshly sampled token.
   */
  NextTokenDistributions sample(List<SequenceChunk> chunks, List<Branch> owners, boolean decode) {
    long n = 0;
    Set<RolloutRun> runs = Collections.newSetFromMap(new IdentityHashMap<>());
    for (int r = 0; r < chunks.size(); r++) {
      int tokens = chunks.get(r).tokens().length;
      n += tokens;
      RolloutRun run = owners.get(r).tree.run;
      run.counters.computedTokens += tokens;
      if (runs.add(run)) {
        run.counters.forwardSteps++;
      }
    }
    total.computedTokens += n;
    total.forwardSteps++;
    float[] temperatures = new float[owners.size()];
    boolean keepLogits = false; // only penalties and logit bias need the raw logits in Java
    boolean fixedOrder = false; // one batch-invariant request puts the whole step in fixed order
    for (int r = 0; r < temperatures.length; r++) {
      SamplingParams params = owners.get(r).tree.run.params;
      temperatures[r] = (float) params.logprobTemperature();
      keepLogits |= !params.adjustments().isNone();
      fixedOrder |= params.batchInvariant();
    }
    long t0 = System.nanoTime();
    NextTokenDistributions d = model.distributions(chunks, kv, temperatures, keepLogits, fixedOrder);
    listener.accept(new StepTiming(decode, chunks.size(), (int) n, System.nanoTime() - t0));
    return d;
  }

  /** One teacher-forced scoring step ({@link Model#scores}). */
  float[][] score(SequenceChunk chunk, int[] targets, double temperature) {
    return model.scores(chunk, kv, targets, temperature);
  }
}
