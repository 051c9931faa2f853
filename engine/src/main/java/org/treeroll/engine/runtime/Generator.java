package org.treeroll.engine.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import it.unimi.dsi.fastutil.floats.FloatArrayList;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.treeroll.engine.sampling.NextTokenDistributions;
import org.treeroll.engine.sampling.SampledToken;
import org.treeroll.engine.sampling.SamplingParams;
import org.treeroll.engine.sampling.TokenSampler;
import org.treeroll.kvcache.PageTable;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.TreeRollException;

/**
 * Samples independent responses for a batch of prompts: prompts are prefilled in chunks, then all
 * live sequences decode one token per batched forward step. Each sequence has its own seeded RNG,
 * so its tokens do not depend on its neighbours in the batch.
 */
public final class Generator {
  private final Model model;
  private final KvStore kv;
  private final int maxStepTokens;
  private final int[] eosIds;
  private StepObserver observer = (decoding, prefillTokens, nanos) -> {};

  /** Told about every forward step: how many sequences decoded, how many prompt tokens ran. */
  @FunctionalInterface
  public interface StepObserver {
    void onStep(int decodingSequences, int prefillTokens, long nanos);
  }

  /**
   * @param maxStepTokens tokens one forward step may carry (bounds prefill memory)
   * @param eosIds ids that end a response unless the request ignores EOS
   */
  public Generator(Model model, KvStore kv, int maxStepTokens, int[] eosIds) {
    if (maxStepTokens <= 0) {
      throw new TreeRollException("max step tokens must be > 0, got " + maxStepTokens);
    }
    this.model = model;
    this.kv = kv;
    this.maxStepTokens = maxStepTokens;
    this.eosIds = eosIds.clone();
  }

  /** Replaces the step observer (benchmarks time decode steps with it). */
  public void setStepObserver(StepObserver observer) {
    this.observer = observer;
  }

  public List<Completion> generate(List<int[]> prompts, SamplingParams params) {
    int maxPos = model.config().maxPositionEmbeddings();
    List<Seq> seqs = new ArrayList<>();
    for (int i = 0; i < prompts.size(); i++) {
      int[] prompt = prompts.get(i);
      if (prompt.length == 0) {
        throw new TreeRollException("prompt " + i + " is empty");
      }
      if (prompt.length + params.maxTokens() > maxPos) {
        throw new TreeRollException("prompt " + i + " has " + prompt.length + " tokens; with max_tokens "
            + params.maxTokens() + " it exceeds the model's max_position_embeddings " + maxPos);
      }
      seqs.add(new Seq(prompt, new PageTable(kv.pool()), TokenSampler.rngFor(params.seed(), i)));
    }
    try {
      List<Seq> live = new ArrayList<>(seqs);
      while (!live.isEmpty()) {
        step(live, params);
        live.removeIf(s -> s.finish != null);
      }
    } finally {
      for (Seq s : seqs) {
        s.table.release();
      }
    }
    List<Completion> out = new ArrayList<>();
    for (Seq s : seqs) {
      out.add(new Completion(s.tokens.toIntArray(), s.logProbs.toFloatArray(),
          s.entropies.toFloatArray(), s.candidates, s.finish));
    }
    return out;
  }

  /** One forward step: every decoding sequence advances one token; prefill fills the rest. */
  private void step(List<Seq> live, SamplingParams params) {
    List<SequenceChunk> chunks = new ArrayList<>();
    List<Seq> chunkSeqs = new ArrayList<>();
    int budget = maxStepTokens;
    int decoding = 0;
    for (Seq s : live) {
      if (s.prefilled == s.prompt.length) {
        decoding++;
        s.table.reserve(1);
        chunks.add(new SequenceChunk(s.table, new int[] {s.tokens.getInt(s.tokens.size() - 1)}, false));
        chunkSeqs.add(s);
        budget--;
      }
    }
    int prefillTokens = 0;
    for (Seq s : live) {
      if (s.prefilled < s.prompt.length && (budget > 0 || chunks.isEmpty())) {
        int n = Math.min(s.prompt.length - s.prefilled, Math.max(budget, 1));
        int[] part = java.util.Arrays.copyOfRange(s.prompt, s.prefilled, s.prefilled + n);
        s.table.reserve(n);
        chunks.add(new SequenceChunk(s.table, part, false));
        chunkSeqs.add(s);
        s.prefilled += n;
        budget -= n;
        prefillTokens += n;
      }
    }
    long t0 = System.nanoTime();
    NextTokenDistributions dist;
    try (NDManager m = NDManager.newBaseManager(model.device())) {
      NDArray logits = model.forward(chunks, kv, m);
      dist = NextTokenDistributions.of(logits, params.logprobTemperature());
    }
    // Each sequence draws with its own RNG from read-only distributions: on every core.
    SampledToken[] drawn = new SampledToken[chunkSeqs.size()];
    NextTokenDistributions d = dist;
    IntStream.range(0, drawn.length).parallel().forEach(i -> {
      Seq s = chunkSeqs.get(i);
      if (s.prefilled == s.prompt.length) { // mid-prompt sequences have nothing to sample yet
        drawn[i] = TokenSampler.sample(d, i, params, s.rng);
      }
    });
    for (int i = 0; i < chunkSeqs.size(); i++) {
      Seq s = chunkSeqs.get(i);
      SampledToken t = drawn[i];
      if (t == null) {
        continue;
      }
      s.tokens.add(t.id());
      s.logProbs.add(t.logProb());
      s.entropies.add(t.entropy());
      if (params.logprobs() > 0) {
        s.candidates.add(t);
      }
      if (!params.ignoreEos() && contains(eosIds, t.id())) {
        s.finish = FinishReason.EOS;
      } else if (params.isStopToken(t.id())) {
        s.finish = FinishReason.STOP_TOKEN;
      } else if (s.tokens.size() >= params.maxTokens()) {
        s.finish = FinishReason.MAX_TOKENS;
      }
      if (s.finish != null) {
        s.table.release();
      }
    }
    observer.onStep(decoding, prefillTokens, System.nanoTime() - t0);
  }

  private static boolean contains(int[] ids, int id) {
    for (int x : ids) {
      if (x == id) {
        return true;
      }
    }
    return false;
  }

  private static final class Seq {
    final int[] prompt;
    final PageTable table;
    final SplittableRandom rng;
    final IntArrayList tokens = new IntArrayList();
    final FloatArrayList logProbs = new FloatArrayList();
    final FloatArrayList entropies = new FloatArrayList();
    final List<SampledToken> candidates = new ArrayList<>();
    int prefilled;
    FinishReason finish;

    Seq(int[] prompt, PageTable table, SplittableRandom rng) {
      this.prompt = prompt;
      this.table = table;
      this.rng = rng;
    }
  }
}
