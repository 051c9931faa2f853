package org.treeroll.engine.sampling;

import it.unimi.dsi.fastutil.ints.IntArrays;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Draws a token from one row of next-token probabilities, in Java: PyTorch's multinomial is not
 * bound in DJL, and each sequence's RNG must not depend on the batch. The recorded probabilities
 * are those of the raw distribution at the sampling temperature (see {@link SamplingParams});
 * penalties and logit bias draw from a distribution recomputed from the adjusted logits, and
 * top-k, top-p and min-p only restrict which tokens may be drawn.
 */
public final class TokenSampler {
  private TokenSampler() {}

  /** Samples row {@code row} of {@code d} for a sequence with no history (penalties see none). */
  public static SampledToken sample(NextTokenDistributions d, int row, SamplingParams p, SplittableRandom rng) {
    return sample(d, row, p, rng, new int[0], it.unimi.dsi.fastutil.ints.IntList.of());
  }

  /** The RNG of sequence {@code index} of a request seeded with {@code seed}. */
  public static SplittableRandom rngFor(long seed, int index) {
    // SplittableRandom's own mixing spreads nearby seeds; the golden-ratio step separates indices.
    return new SplittableRandom(seed + 0x9E3779B97F4A7C15L * (index + 1L));
  }

  /**
   * Samples row {@code row} of {@code d} for a branch whose path so far is {@code prompt} then
   * {@code output} (what the penalties look at).
   */
  public static SampledToken sample(NextTokenDistributions d, int row, SamplingParams p,
      SplittableRandom rng, int[] prompt, it.unimi.dsi.fastutil.ints.IntList output) {
    int vocab = d.vocab();
    int offset = row * vocab;
    float[] probs = d.probs();
    float[] drawFrom = probs;
    int drawOffset = offset;
    if (!p.adjustments().isNone()) {
      drawFrom = adjusted(d, row, p, prompt, output);
      drawOffset = 0;
    }
    int token;
    if (p.temperature() == 0) {
      token = argmax(drawFrom, drawOffset, vocab);
    } else if (p.topK() == 0 && p.topP() >= 1 && p.minP() == 0) {
      token = drawFull(drawFrom, drawOffset, vocab, rng);
    } else {
      token = drawTruncated(drawFrom, drawOffset, vocab, p, rng);
    }
    int[] topIds = new int[0];
    float[] topLogProbs = new float[0];
    if (p.logprobs() > 0) {
      topIds = topIndices(probs, offset, vocab, Math.min(p.logprobs(), vocab));
      topLogProbs = new float[topIds.length];
      for (int i = 0; i < topIds.length; i++) {
        topLogProbs[i] = (float) Math.log(probs[offset + topIds[i]]);
      }
    }
    return new SampledToken(token, (float) Math.log(probs[offset + token]), d.entropies()[row],
        topIds, topLogProbs);
  }

  /**
   * The distribution penalties and logit bias leave: {@code softmax(adjusted logits / T)} of the
   * row, T being the temperature log-probs are taken at.
   */
  static float[] adjusted(NextTokenDistributions d, int row, SamplingParams p, int[] prompt,
      it.unimi.dsi.fastutil.ints.IntList output) {
    int vocab = d.vocab();
    if (d.logits() == null) {
      throw new IllegalStateException("penalties or logit bias without the raw logits of the step");
    }
    float[] l = Arrays.copyOfRange(d.logits(), row * vocab, (row + 1) * vocab);
    p.adjustments().apply(l, prompt, output);
    double t = p.logprobTemperature();
    float max = Float.NEGATIVE_INFINITY;
    for (float v : l) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (int i = 0; i < vocab; i++) {
      double e = Math.exp((l[i] - max) / t);
      l[i] = (float) e;
      sum += e;
    }
    for (int i = 0; i < vocab; i++) {
      l[i] = (float) (l[i] / sum);
    }
    return l;
  }

  private static int argmax(float[] probs, int offset, int vocab) {
    int best = 0;
    for (int i = 1; i < vocab; i++) {
      if (probs[offset + i] > probs[offset + best]) {
        best = i;
      }
    }
    return best;
  }

  private static int drawFull(float[] probs, int offset, int vocab, SplittableRandom rng) {
    double total = 0; // sums to 1 up to rounding; use the actual sum so every draw lands
    for (int i = 0; i < vocab; i++) {
      total += probs[offset + i];
    }
    double u = rng.nextDouble() * total;
    double acc = 0;
    int last = 0;
    for (int i = 0; i < vocab; i++) {
      float q = probs[offset + i];
      if (q > 0) {
        last = i;
        acc += q;
        if (acc > u) {
          return i;
        }
      }
    }
    return last;
  }

  private static int drawTruncated(float[] probs, int offset, int vocab, SamplingParams p,
      SplittableRandom rng) {
    // Candidates in descending probability. Tokens with p <= (1 - topP) / V together weigh at
    // most 1 - topP, so they all lie outside the nucleus and need no sorting.
    // Min-p keeps tokens at least minP times as likely as the most likely; top-k and top-p keep
    // that one, so the bound is the same before and after them.
    double minKeep = p.minP() > 0 ? p.minP() * probs[offset + argmax(probs, offset, vocab)] : 0;
    int[] cand;
    if (p.topK() > 0) {
      cand = topIndices(probs, offset, vocab, Math.min(p.topK(), vocab));
    } else {
      // Without top-p, tokens under the min-p bound need no sorting either.
      double floor = p.topP() < 1 ? (1 - p.topP()) / vocab : 0;
      double atLeast = p.topP() < 1 ? 0 : minKeep;
      int[] keep = new int[vocab];
      int n = 0;
      for (int i = 0; i < vocab; i++) {
        if (probs[offset + i] > floor && probs[offset + i] >= atLeast) {
          keep[n++] = i;
        }
      }
      cand = Arrays.copyOf(keep, n);
      sortDescending(cand, probs, offset);
    }
    double total = 0;
    for (int id : cand) {
      total += probs[offset + id];
    }
    int n = cand.length;
    if (p.topP() < 1) {
      double acc = 0;
      for (int i = 0; i < cand.length; i++) {
        acc += probs[offset + cand[i]];
        if (acc >= p.topP() * total) {
          n = i + 1;
          break;
        }
      }
    }
    while (n > 1 && probs[offset + cand[n - 1]] < minKeep) {
      n--;
    }
    double kept = 0;
    for (int i = 0; i < n; i++) {
      kept += probs[offset + cand[i]];
    }
    double u = rng.nextDouble() * kept;
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += probs[offset + cand[i]];
      if (acc > u) {
        return cand[i];
      }
    }
    return cand[n - 1];
  }

  /** The k most likely ids, most likely first (ties: lower id first). */
  static int[] topIndices(float[] probs, int offset, int vocab, int k) {
    // A min-heap of the best k seen so far; O(V log k).
    int[] heap = new int[k];
    int size = 0;
    for (int i = 0; i < vocab; i++) {
      if (size < k) {
        heap[size] = i;
        siftUp(heap, size++, probs, offset);
      } else if (better(i, heap[0], probs, offset)) {
        heap[0] = i;
        siftDown(heap, k, probs, offset);
      }
    }
    int[] out = Arrays.copyOf(heap, size);
    sortDescending(out, probs, offset);
    return out;
  }

  private static void sortDescending(int[] ids, float[] probs, int offset) {
    IntArrays.quickSort(ids, (a, b) -> better(a, b, probs, offset) ? -1 : (a == b ? 0 : 1));
  }

  private static boolean better(int a, int b, float[] probs, int offset) {
    float pa = probs[offset + a];
    float pb = probs[offset + b];
    return pa > pb || (pa == pb && a < b);
  }

  private static void siftUp(int[] heap, int i, float[] probs, int offset) {
    while (i > 0) {
      int parent = (i - 1) / 2;
      if (!better(heap[parent], heap[i], probs, offset)) {
        break;
      }
      int t = heap[parent];
      heap[parent] = heap[i];
      heap[i] = t;
      i = parent;
    }
  }

  private static void siftDown(int[] heap, int size, float[] probs, int offset) {
    int i = 0;
    while (true) {
      int l = 2 * i + 1;
      int r = l + 1;
      int worst = i;
      if (l < size && better(heap[worst], heap[l], probs, offset)) {
        worst = l;
      }
      if (r < size && better(heap[worst], heap[r], probs, offset)) {
        worst = r;
      }
      if (worst == i) {
        return;
      }
      int t = heap[worst];
      heap[worst] = heap[i];
      heap[i] = t;
      i = worst;
    }
  }
}
