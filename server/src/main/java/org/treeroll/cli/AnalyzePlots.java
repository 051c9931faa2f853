package org.treeroll.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Function;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;

/**
 * The SVG plots of {@code analyze --plots}: grouped bar charts with one bar colour per set of
 * dumps (the dumps, and the {@code --compare} dumps when given).
 */
final class AnalyzePlots {
  private static final String[] COLORS = {"#08519c", "#d94801"};
  private static final String[] NAMES = {"DUMP", "--compare"};
  private static final int W = 720;
  private static final int H = 360;
  private static final int LEFT = 60;
  private static final int RIGHT = 20;
  private static final int TOP = 50;
  private static final int BOTTOM = 50;

  private AnalyzePlots() {}

  /** One bar per category; NaN draws no bar. */
  record Series(String name, SortedMap<Integer, Double> values) {}

  /** Writes the three plots into {@code dir}; {@code others} may be null. Returns the files written. */
  static List<Path> write(Path dir, List<RolloutTree> trees, List<RolloutTree> others) {
    List<List<RolloutTree>> sets = others == null ? List.of(trees) : List.of(trees, others);
    List<Path> files = new ArrayList<>();
    files.add(plot(dir.resolve("reward-by-depth.svg"), "Mean reward of the answers by depth",
        "answer depth (segments)", "mean reward", sets, AnalyzePlots::rewardByDepth));
    files.add(plot(dir.resolve("tokens-saved.svg"),
        "Tokens saved against independent sampling, per tree: 1 - distinct tree tokens / independent tokens",
        "tree id", "share saved", sets, AnalyzePlots::savedByTree));
    files.add(plot(dir.resolve("forks-by-depth.svg"), "Where answers forked: branch points by depth",
        "depth of the branch point (0 = the prompt)", "branch points", sets, AnalyzePlots::forksByDepth));
    return files;
  }

  private static Path plot(Path file, String title, String xLabel, String yLabel, List<List<RolloutTree>> sets,
      Function<List<RolloutTree>, SortedMap<Integer, Double>> measure) {
    List<Series> series = new ArrayList<>();
    for (int i = 0; i < sets.size(); i++) {
      series.add(new Series(NAMES[i], measure.apply(sets.get(i))));
    }
    String svg = render(title, xLabel, yLabel, series);
    AtomicFile.write(file, tmp -> Files.writeString(tmp, svg));
    return file;
  }

  static SortedMap<Integer, Double> rewardByDepth(List<RolloutTree> trees) {
    TreeMap<Integer, double[]> sums = new TreeMap<>(); // depth -> {sum, scored}
    for (RolloutTree t : trees) {
      for (SegmentNode l : t.leaves()) {
        double[] s = sums.computeIfAbsent(l.depth(), k -> new double[2]);
        if (l.hasReward()) {
          s[0] += l.reward();
          s[1]++;
        }
      }
    }
    TreeMap<Integer, Double> out = new TreeMap<>();
    sums.forEach((d, s) -> out.put(d, s[1] == 0 ? Double.NaN : s[0] / s[1]));
    return out;
  }

  static SortedMap<Integer, Double> savedByTree(List<RolloutTree> trees) {
    TreeMap<Integer, long[]> tokens = new TreeMap<>(); // tree id -> {distinct, independent}
    for (RolloutTree t : trees) {
      long[] s = tokens.computeIfAbsent(t.id(), k -> new long[2]);
      s[0] += t.distinctTokens();
      s[1] += t.independentTokens();
    }
    TreeMap<Integer, Double> out = new TreeMap<>();
    tokens.forEach((id, s) -> out.put(id, s[1] == 0 ? Double.NaN : 1 - (double) s[0] / s[1]));
    return out;
  }

  static SortedMap<Integer, Double> forksByDepth(List<RolloutTree> trees) {
    TreeMap<Integer, Double> out = new TreeMap<>();
    for (RolloutTree t : trees) {
      for (SegmentNode n : t.nodes()) {
        if (n.children().size() >= 2) {
          out.merge(n.depth(), 1.0, Double::sum);
        }
      }
    }
    return out;
  }

  /** A grouped bar chart: categories along x (the union of the series' keys), y from min(0, lowest) to the highest. */
  static String render(String title, String xLabel, String yLabel, List<Series> series) {
    TreeMap<Integer, Boolean> categories = new TreeMap<>();
    double lo = 0;
    double hi = 0;
    for (Series s : series) {
      for (var e : s.values().entrySet()) {
        categories.put(e.getKey(), true);
        if (!e.getValue().isNaN()) {
          lo = Math.min(lo, e.getValue());
          hi = Math.max(hi, e.getValue());
        }
      }
    }
    if (hi == lo) {
      hi = lo + 1;
    }
    int pw = W - LEFT - RIGHT;
    int ph = H - TOP - BOTTOM;
    double yLo = lo;
    double yHi = hi;
    Function<Double, Double> y = v -> TOP + ph * (yHi - v) / (yHi - yLo);
    StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
            + " font-family=\"sans-serif\" font-size=\"11\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n",
        W, H, W, H));
    b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" font-size=\"13\">%s</text>%n", LEFT, escape(title)));
    for (int i = 0; i < series.size(); i++) {
      b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"%s\"/>"
          + "<text x=\"%d\" y=\"37\">%s</text>%n", LEFT + i * 120, COLORS[i], LEFT + i * 120 + 14,
          escape(series.get(i).name())));
    }
    for (int k = 0; k <= 4; k++) {
      double v = yLo + (yHi - yLo) * k / 4;
      b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
          + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", LEFT, y.apply(v), W - RIGHT, y.apply(v),
          LEFT - 6, y.apply(v) + 4, trim(v)));
    }
    List<Integer> keys = new ArrayList<>(categories.keySet());
    double slot = keys.isEmpty() ? pw : (double) pw / keys.size();
    double bar = slot * 0.8 / series.size();
    int labelEvery = Math.max(1, (int) Math.ceil(keys.size() / 24.0)); // at most ~24 labels
    for (int c = 0; c < keys.size(); c++) {
      double x0 = LEFT + c * slot + slot * 0.1;
      for (int i = 0; i < series.size(); i++) {
        Double v = series.get(i).values().get(keys.get(c));
        if (v == null || v.isNaN()) {
          continue;
        }
        double top = y.apply(Math.max(v, 0));
        double height = Math.abs(y.apply(v) - y.apply(0.0));
        b.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
            + "<title>%s %d: %s</title></rect>%n", x0 + i * bar, top, bar, height, COLORS[i],
            escape(xLabel), keys.get(c), trim(v)));
      }
      if (c % labelEvery == 0) {
        b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>%n",
            LEFT + (c + 0.5) * slot, H - BOTTOM + 14, keys.get(c)));
      }
    }
    b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>%n",
        LEFT, y.apply(0.0), W - RIGHT, y.apply(0.0)));
    b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
        LEFT + pw / 2, H - 12, escape(xLabel)));
    b.append(String.format(Locale.ROOT, "<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">%s"
        + "</text>%n</svg>%n", TOP + ph / 2, escape(yLabel)));
    return b.toString();
  }

  private static String trim(double v) {
    return String.format(Locale.ROOT, "%.3g", v);
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
