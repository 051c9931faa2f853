package org.treeroll.engine.rl;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.TreeRollException;

/**
 * Held-out accuracy against sampled forward tokens, one line per run, as a small standalone
 * SVG: the x axis is the training compute, so runs that spend tokens differently compare fairly.
 * A curve averaged over several seeds is drawn as its mean with a shaded band from the lowest to
 * the highest seed.
 */
public final class AccuracyCurveSvg {
  private static final String[] COLORS = {"#08519c", "#d94801", "#238b45", "#6a51a3", "#a50f15", "#525252"};
  private static final int W = 720;
  private static final int H = 400;
  private static final int LEFT = 60;
  private static final int RIGHT = 20;
  private static final int TOP = 40;
  private static final int BOTTOM = 50;

  private AccuracyCurveSvg() {}

  public static String render(List<LearningCurve> series, String title) {
    long maxTokens = 1;
    double lo = 1;
    double hi = 0;
    for (LearningCurve s : series) {
      for (int i = 0; i < s.tokens().length; i++) {
        maxTokens = Math.max(maxTokens, s.tokens()[i]);
        lo = Math.min(lo, s.low()[i]);
        hi = Math.max(hi, s.high()[i]);
      }
    }
    // Whole tenths around the data, so small differences stay visible.
    lo = Math.max(0, Math.floor(lo * 10 - 0.5) / 10);
    hi = Math.min(1, Math.ceil(hi * 10 + 0.5) / 10);
    int pw = W - LEFT - RIGHT;
    int ph = H - TOP - BOTTOM;
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            + "font-family=\"sans-serif\" font-size=\"12\">%n", W, H, W, H));
    s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", W, H));
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"15\">%s</text>%n", LEFT, escape(title)));
    for (int i = 0; i <= Math.round((hi - lo) * 10); i++) {
      double v = lo + i / 10.0;
      double y = TOP + ph - ph * (v - lo) / (hi - lo);
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>%n",
          LEFT, y, LEFT + pw, y));
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>%n",
          LEFT - 6, y + 4, v));
    }
    double tick = tokenTick(maxTokens);
    for (double t = 0; t <= maxTokens; t += tick) {
      double x = LEFT + pw * t / maxTokens;
      s.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#888\"/>%n",
          x, TOP + ph, x, TOP + ph + 4));
      s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
          x, TOP + ph + 18, tokens(t)));
    }
    s.append(String.format(Locale.ROOT,
        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">sampled forward tokens (engine computed)</text>%n",
        LEFT + pw / 2, H - 10));
    s.append(String.format(Locale.ROOT,
        "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">held-out accuracy</text>%n",
        TOP + ph / 2, TOP + ph / 2));
    s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>%n",
        LEFT, TOP, pw, ph));
    for (int k = 0; k < series.size(); k++) {
      LearningCurve r = series.get(k);
      String color = COLORS[k % COLORS.length];
      if (r.seeds() > 1) {
        StringBuilder band = new StringBuilder();
        for (int i = 0; i < r.tokens().length; i++) {
          band.append(String.format(Locale.ROOT, "%.1f,%.1f ", LEFT + pw * (double) r.tokens()[i] / maxTokens,
              TOP + ph - ph * (r.high()[i] - lo) / (hi - lo)));
        }
        for (int i = r.tokens().length - 1; i >= 0; i--) {
          band.append(String.format(Locale.ROOT, "%.1f,%.1f ", LEFT + pw * (double) r.tokens()[i] / maxTokens,
              TOP + ph - ph * (r.low()[i] - lo) / (hi - lo)));
        }
        s.append(String.format(Locale.ROOT, "<polygon fill=\"%s\" fill-opacity=\"0.15\" stroke=\"none\" points=\"%s\"/>%n",
            color, band.toString().strip()));
      }
      StringBuilder pts = new StringBuilder();
      for (int i = 0; i < r.tokens().length; i++) {
        double x = LEFT + pw * (double) r.tokens()[i] / maxTokens;
        double y = TOP + ph - ph * (r.mean()[i] - lo) / (hi - lo);
        pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
        s.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>%n", x, y, color));
      }
      s.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>%n",
          color, pts.toString().strip()));
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>%n",
          LEFT + 8, TOP + 16 + 15 * k, color,
          escape(r.seeds() > 1 ? r.label() + " (mean of " + r.seeds() + " seeds, band: lowest to highest)" : r.label())));
    }
    return s.append("</svg>\n").toString();
  }

  public static void write(Path file, List<LearningCurve> series, String title) {
    try {
      if (file.getParent() != null) {
        Files.createDirectories(file.getParent());
      }
    } catch (java.io.IOException e) {
      throw new TreeRollException(file + ": cannot create directory: " + e.getMessage(), e);
    }
    byte[] bytes = render(series, title).getBytes(StandardCharsets.UTF_8);
    AtomicFile.write(file, tmp -> Files.write(tmp, bytes));
  }

  /** A round step (1, 2 or 5 times a power of ten) giving 4 to 10 ticks up to {@code max}. */
  static double tokenTick(long max) {
    double step = Math.pow(10, Math.floor(Math.log10(Math.max(1, max))));
    for (double f : new double[] {1, 0.5}) {
      if (max / (step * f) >= 4) {
        return step * f;
      }
    }
    return step * 0.2;
  }

  private static String tokens(double t) {
    if (t >= 1e6) {
      return String.format(Locale.ROOT, t % 1e6 == 0 ? "%.0fM" : "%.1fM", t / 1e6);
    }
    return t >= 1e3 ? String.format(Locale.ROOT, "%.0fk", t / 1e3) : String.format(Locale.ROOT, "%.0f", t);
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
