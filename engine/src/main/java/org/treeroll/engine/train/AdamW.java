package org.treeroll.engine.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.LinkedHashMap;
import java.util.Map;
import org.treeroll.engine.model.WeightNames;

/**
 * AdamW (decoupled weight decay, bias-corrected moments) with global gradient-norm clipping,
 * written with in-place NDArray ops. Call {@link #step} outside a gradient collector; it also
 * zeroes the gradients it consumed. A step whose gradient is not finite is skipped (weights and
 * moments untouched) and counted.
 */
public final class AdamW implements AutoCloseable {
  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final double gradClip;
  private final NDManager manager;
  private final Map<String, NDArray[]> moments = new LinkedHashMap<>();
  private int t;
  private int skipped;

  public AdamW(Map<String, NDArray> params, NDManager parent, double beta1, double beta2, double eps,
      double weightDecay, double gradClip) {
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.gradClip = gradClip;
    this.manager = parent.newSubManager();
    for (Map.Entry<String, NDArray> e : params.entrySet()) {
      NDArray w = e.getValue();
      moments.put(e.getKey(), new NDArray[] {
          manager.zeros(w.getShape(), w.getDataType()), manager.zeros(w.getShape(), w.getDataType())});
    }
  }

  /**
   * One update of every parameter from its gradient; returns the gradient's global norm before
   * clipping. Temporaries join the current NDScope (the caller's per-step scope).
   */
  public double step(Map<String, NDArray> params, double lr) {
    t++;
    Map<String, NDArray> grads = new LinkedHashMap<>();
    double sq = 0;
    for (Map.Entry<String, NDArray> e : params.entrySet()) {
      NDArray g = e.getValue().getGradient();
      grads.put(e.getKey(), g);
      sq += g.square().sum().getFloat();
    }
    double norm = Math.sqrt(sq);
    if (!Double.isFinite(norm)) {
      // A non-finite gradient would turn every weight into NaN: skip the update (the moments and
      // the step count stay as they were) and clear the gradients for the next step.
      t--;
      skipped++;
      for (NDArray g : grads.values()) {
        g.set(new NDIndex("..."), 0f);
      }
      return norm;
    }
    double scale = gradClip > 0 && norm > gradClip ? gradClip / norm : 1.0;
    double c1 = 1 - Math.pow(beta1, t);
    double c2 = 1 - Math.pow(beta2, t);
    for (Map.Entry<String, NDArray> e : params.entrySet()) {
      NDArray w = e.getValue();
      NDArray g = grads.get(e.getKey());
      NDArray[] mv = moments.get(e.getKey());
      NDArray gs = scale == 1.0 ? g : g.mul((float) scale);
      mv[0].muli((float) beta1).addi(gs.mul((float) (1 - beta1)));
      mv[1].muli((float) beta2).addi(gs.square().muli((float) (1 - beta2)));
      NDArray update = mv[0].div((float) c1).divi(mv[1].div((float) c2).sqrt().addi((float) eps));
      if (weightDecay > 0 && !WeightNames.isNorm(e.getKey())) {
        update.addi(w.mul((float) weightDecay));
      }
      w.subi(update.muli((float) lr));
      g.subi(g);
    }
    return norm;
  }

  /** Steps skipped because the gradient was not finite. */
  public int skippedSteps() {
    return skipped;
  }

  @Override
  public void close() {
    manager.close();
  }
}
