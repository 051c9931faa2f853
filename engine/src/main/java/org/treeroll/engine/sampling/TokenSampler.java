package org.treeroll.engine.sampling;

import it.unimi.dsi.fastutil.ints.IntArrays;
import java.util.SplittableRandom;

/**
 * Draws a token from one row of logits, in Java (PyTorch's multinomial is not bound in DJL, and
 * a per-sequence RNG must not depend on the batch). Sums run in double.
 */
public final class TokenSampler {
  private TokenSampler() {}

  /** The RNG of sequence {@code index} of a request seeded with {@code seed}. */
  public static SplittableRandom rngFor(long seed, int index) {
    // SplittableRandom's own mixing spreads nearby seeds; the golden-ratio step separates indices.
    return new SplittableRandom(seed + 0x9E3779B97F4A7C15L * (index + 1L));
  }

  /** Samples from {@code logits[offset .. offset + vocab)}. */
  public static SampledToken sample(float[] logits, int offset, int vocab, SamplingParams p,
      SplittableRandom rng) {
    double invT = 1.0 / p.logprobTemperature();
    float max = Float.NEGATIVE_INFINITY;
    int argmax = 0;
    for (int i = 0; i < vocab; i++) {
      if (logits[offset + i] > max) {
        max = logits[offset + i];
        argmax = i;
      }
    }
    // Z = sum exp((z - max) / T); H = log Z - E[(z - max) / T].
    double z = 0;
    double weighted = 0;
    for (int i = 0; i < vocab; i++) {
      double s = (logits[offset + i] - max) * invT;
      double e = Math.exp(s);
      z += e;
      weighted += e * s;
    }
    double logZ = Math.log(z);
    float entropy = (float) (logZ - weighted / z);

    int token;
    if (p.temperature() == 0) {
      token = argmax;
    } else if (p.topK() == 0 && p.topP() >= 1) {
      token = drawFull(logits, offset, vocab, max, invT, z, rng);
    } else {
      token = drawTruncated(logits, offset, vocab, max, invT, z, p, rng);
    }
    float logProb = (float) ((logits[offset + token] - max) * invT - logZ);

    int[] topIds = new int[0];
    float[] topLogProbs = new float[0];
    if (p.logprobs() > 0) {
      topIds = topIndices(logits, offset, vocab, Math.min(p.logprobs(), vocab));
      topLogProbs = new float[topIds.length];
      for (int i = 0; i < topIds.length; i++) {
        topLogProbs[i] = (float) ((logits[offset + topIds[i]] - max) * invT - logZ);
      }
    }
    return new SampledToken(token, logProb, entropy, topIds, topLogProbs);
  }

  private static int drawFull(float[] logits, int offset, int vocab, float max, double invT,
      double z, SplittableRandom rng) {
    double u = rng.nextDouble() * z;
    double acc = 0;
    int last = 0;
    for (int i = 0; i < vocab; i++) {
      double e = Math.exp((logits[offset + i] - max) * invT);
      if (e > 0) {
        last = i;
      }
      acc += e;
      if (acc > u) {
        return i;
      }
    }
    return last; // u within rounding of z
  }

  private static int drawTruncated(float[] logits, int offset, int vocab, float max, double invT,
      double z, SamplingParams p, SplittableRandom rng) {
    // Candidates in descending probability. Tokens with p <= (1 - topP) / V together weigh at
    // most 1 - topP, so they all lie outside the nucleus and need no sorting.
    int[] cand;
    if (p.topK() > 0) {
      cand = topIndices(logits, offset, vocab, Math.min(p.topK(), vocab));
    } else {
      double floor = Math.log((1 - p.topP()) / vocab) + Math.log(z); // in units of (z - max)/T
      int[] keep = new int[vocab];
      int n = 0;
      for (int i = 0; i < vocab; i++) {
        if ((logits[offset + i] - max) * invT > floor) {
          keep[n++] = i;
        }
      }
      cand = java.util.Arrays.copyOf(keep, n);
      sortDescending(cand, logits, offset);
    }
    double[] w = new double[cand.length];
    double total = 0;
    for (int i = 0; i < cand.length; i++) {
      w[i] = Math.exp((logits[offset + cand[i]] - max) * invT);
      total += w[i];
    }
    int n = cand.length;
    if (p.topP() < 1) {
      double acc = 0;
      for (int i = 0; i < cand.length; i++) {
        acc += w[i];
        if (acc >= p.topP() * total) {
          n = i + 1;
          break;
        }
      }
    }
    double kept = 0;
    for (int i = 0; i < n; i++) {
      kept += w[i];
    }
    double u = rng.nextDouble() * kept;
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += w[i];
      if (acc > u) {
        return cand[i];
      }
    }
    return cand[n - 1];
  }

  /** The k largest logits' indices, largest first (ties: lower id first). */
  static int[] topIndices(float[] logits, int offset, int vocab, int k) {
    // A min-heap of the best k seen so far; O(V log k).
    int[] heap = new int[k];
    int size = 0;
    for (int i = 0; i < vocab; i++) {
      if (size < k) {
        heap[size] = i;
        siftUp(heap, size++, logits, offset);
      } else if (better(i, heap[0], logits, offset)) {
        heap[0] = i;
        siftDown(heap, k, logits, offset);
      }
    }
    int[] out = java.util.Arrays.copyOf(heap, size);
    sortDescending(out, logits, offset);
    return out;
  }

  private static void sortDescending(int[] ids, float[] logits, int offset) {
    IntArrays.quickSort(ids, (a, b) -> better(a, b, logits, offset) ? -1 : (a == b ? 0 : 1));
  }

  private static boolean better(int a, int b, float[] logits, int offset) {
    float la = logits[offset + a];
    float lb = logits[offset + b];
    return la > lb || (la == lb && a < b);
  }

  private static void siftUp(int[] heap, int i, float[] logits, int offset) {
    while (i > 0) {
      int parent = (i - 1) / 2;
      if (!better(heap[parent], heap[i], logits, offset)) {
        break;
      }
      int t = heap[parent];
      heap[parent] = heap[i];
      heap[i] = t;
      i = parent;
    }
  }

  private static void siftDown(int[] heap, int size, float[] logits, int offset) {
    int i = 0;
    while (true) {
      int l = 2 * i + 1;
      int r = l + 1;
      int worst = i;
      if (l < size && better(heap[worst], heap[l], logits, offset)) {
        worst = l;
      }
      if (r < size && better(heap[worst], heap[r], logits, offset)) {
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
