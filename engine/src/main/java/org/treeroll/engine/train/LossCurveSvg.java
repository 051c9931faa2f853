package org.treeroll.engine.train;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.treeroll.tree.AtomicFile;

/**
 * Renders a loss curve as a small standalone SVG: the raw per-step loss and its moving average,
 * on a logarithmic loss axis (one grid line per decade).
 */
public final class LossCurveSvg {
  private static final int W = 720;
  private static final int H = 360;
  private static final int LEFT = 60;
  private static final int RIGHT = 20;
  private static final int TOP = 40;
  private static final int BOTTOM = 50;

  private LossCurveSvg() {}

  public static String render(double[] losses, String title) {
    int n = losses.length;
    double max = 1e-3;
    double min = Double.MAX_VALUE;
    for (double l : losses) {
      if (l > 0 && Double.isFinite(l)) {
        max = Math.max(max, l);
        min = Math.min(min, l);
      }
    }
    int hiDecade = (int) Math.ceil(Math.log10(max));
    int loDecade = Math.min(hiDecade - 1, (int) Math.floor(Math.log10(Math.min(min, max))));
    double[] avg = movingAverage(losses, Math.max(1, n / 50));
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            + "font-family=\"sans-serif\" font-size=\"12\">%n", W, H, W, H));
    s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", W, H));
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"15\">%s</text>%n", LEFT, escape(title)));
    int pw = W - LEFT - RIGHT;
    int ph = H - TOP - BOTTOM;
    int decades = hiDecade - loDecade;
    for (int i = 0; i <= decades; i++) {
      double v = Math.pow(10, loDecade + i);
      double y = TOP + ph - ph * (double) i / decades;
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>%n",
          LEFT, y, LEFT + pw, y));
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n",
          LEFT - 6, y + 4, trim(v)));
    }
    for (int i = 0; i <= 5; i++) {
      int step = (int) Math.round((double) (n - 1) * i / 5);
      double x = LEFT + (n <= 1 ? 0 : (double) pw * step / (n - 1));
      s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>%n",
          x, TOP + ph + 18, step + 1));
    }
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>%n",
        LEFT + pw / 2, H - 10));
    s.append(String.format(Locale.ROOT,
        "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">loss (nats/token, log scale)</text>%n",
        TOP + ph / 2, TOP + ph / 2));
    s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>%n",
        LEFT, TOP, pw, ph));
    s.append(polyline(losses, loDecade, hiDecade, pw, ph, "#9ecae1", 1));
    s.append(polyline(avg, loDecade, hiDecade, pw, ph, "#08519c", 2));
    s.append(String.format(Locale.ROOT,
        "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#08519c\">moving average; light: per step</text>%n",
        LEFT + pw - 6, TOP + 16));
    s.append("</svg>\n");
    return s.toString();
  }

  public static void write(Path file, double[] losses, String title) {
    try {
      if (file.getParent() != null) {
        Files.createDirectories(file.getParent());
      }
    } catch (java.io.IOException e) {
      throw new org.treeroll.tree.TreeRollException(file + ": cannot create directory: " + e.getMessage(), e);
    }
    byte[] bytes = render(losses, title).getBytes(StandardCharsets.UTF_8);
    AtomicFile.write(file, tmp -> Files.write(tmp, bytes));
  }

  private static String polyline(double[] v, int lo, int hi, int pw, int ph, String color, double width) {
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
        "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"", color, width));
    int n = v.length;
    for (int i = 0; i < n; i++) {
      double x = LEFT + (n <= 1 ? 0 : (double) pw * i / (n - 1));
      double lv = Math.log10(Math.max(v[i], Math.pow(10, lo)));
      double y = TOP + ph - ph * Math.min(1, (lv - lo) / (hi - lo));
      s.append(String.format(Locale.ROOT, "%.1f,%.1f ", x, y));
    }
    return s.append("\"/>\n").toString();
  }

  static double[] movingAverage(double[] v, int window) {
    double[] out = new double[v.length];
    double sum = 0;
    for (int i = 0; i < v.length; i++) {
      sum += v[i];
      if (i >= window) {
        sum -= v[i - window];
      }
      out[i] = sum / Math.min(i + 1, window);
    }
    return out;
  }

  private static String trim(double v) {
    return v >= 1 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.4f", v).replaceAll("0+$", "");
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
