package org.treeroll.tree;

import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * A rollout tree as an SVG picture: one box per node, leaves left to right, depth downwards.
 * A box's colour is the mean reward of the answers below it (red 0 to green 1, grey when none is
 * scored), so a glance shows where the tree's answers part ways and which branch was right.
 * Hovering a box shows its text.
 */
public final class TreeSvg {
  private static final int COL = 26;
  private static final int ROW = 64;
  private static final int BOX_W = 20;
  private static final int BOX_H = 26;
  private static final int MARGIN = 24;

  private TreeSvg() {}

  /**
   * Writes {@code tree} to {@code file} (atomically).
   *
   * @param label the text of a node (its segment decoded), shown on hover
   * @param title a caption above the picture
   */
  public static void write(Path file, RolloutTree tree, Function<SegmentNode, String> label, String title) {
    Map<SegmentNode, double[]> pos = new IdentityHashMap<>();
    List<SegmentNode> leaves = new ArrayList<>();
    place(tree.root(), pos, leaves);
    int depth = tree.nodes().stream().mapToInt(SegmentNode::depth).max().orElse(0);
    int width = Math.max(leaves.size() * COL, 680) + 2 * MARGIN; // room for the caption
    int height = (depth + 1) * ROW + 2 * MARGIN + 20;
    double shift = (width - 2 * MARGIN - leaves.size() * COL) / 2.0;
    pos.values().forEach(p -> p[0] += shift / COL);
    StringBuilder svg = new StringBuilder();
    svg.append(String.format(Locale.ROOT,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
            + " font-family=\"sans-serif\" font-size=\"11\">%n", width, height, width, height));
    svg.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"16\" font-size=\"13\">%s</text>%n", MARGIN,
        escape(title)));
    for (SegmentNode n : tree.nodes()) {
      if (n.parent() != null) {
        double[] a = xy(pos.get(n.parent()));
        double[] b = xy(pos.get(n));
        svg.append(String.format(Locale.ROOT,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>%n",
            a[0], a[1] + BOX_H / 2.0, b[0], b[1] - BOX_H / 2.0));
      }
    }
    for (SegmentNode n : tree.nodes()) {
      double[] c = xy(pos.get(n));
      double[] reward = meanReward(n);
      String fill = reward[1] == 0 ? "#ccc" : colour(reward[0] / reward[1]);
      String text = n.isRootNode() ? "prompt" : label.apply(n);
      String info = (n.isRootNode() ? "prompt" : "node " + n.id() + ", " + n.tokenCount() + " tokens")
          + (reward[1] == 0 ? "" : String.format(Locale.ROOT, ", mean reward %.2f over %d answers",
              reward[0] / reward[1], (int) reward[1]))
          + (n.finishReason() == null ? "" : ", " + n.finishReason().name().toLowerCase(Locale.ROOT))
          + "\n" + text;
      svg.append(String.format(Locale.ROOT,
          "<g><title>%s</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" rx=\"4\" fill=\"%s\""
              + " stroke=\"#333\"/>", escape(info), c[0] - BOX_W / 2.0, c[1] - BOX_H / 2.0, BOX_W, BOX_H, fill));
      if (n.isLeaf() && n.hasReward()) {
        svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
            c[0], c[1] + BOX_H / 2.0 + 13, fmt(n.reward())));
      }
      svg.append("</g>\n");
    }
    svg.append(String.format(Locale.ROOT,
        "<text x=\"%d\" y=\"%d\" fill=\"#555\">box colour: mean reward of the answers below"
            + " (red 0, green 1, grey unscored); hover a box for its text</text>%n", MARGIN, height - 8));
    svg.append("</svg>\n");
    AtomicFile.write(file, tmp -> {
      try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
        w.write(svg.toString());
      }
    });
  }

  /** Leaves get consecutive columns in depth-first order; a parent sits above its children's middle. */
  private static double place(SegmentNode n, Map<SegmentNode, double[]> pos, List<SegmentNode> leaves) {
    double x;
    if (n.isLeaf()) {
      x = leaves.size();
      leaves.add(n);
    } else {
      double sum = 0;
      for (SegmentNode c : n.children()) {
        sum += place(c, pos, leaves);
      }
      x = sum / n.children().size();
    }
    pos.put(n, new double[] {x, n.depth()});
    return x;
  }

  private static double[] xy(double[] p) {
    return new double[] {MARGIN + COL / 2.0 + p[0] * COL, MARGIN + 20 + BOX_H / 2.0 + p[1] * ROW};
  }

  /** {sum of rewards, count} over the scored answers below {@code n}. */
  private static double[] meanReward(SegmentNode n) {
    if (n.isLeaf()) {
      return n.hasReward() ? new double[] {n.reward(), 1} : new double[] {0, 0};
    }
    double[] acc = {0, 0};
    for (SegmentNode c : n.children()) {
      double[] r = meanReward(c);
      acc[0] += r[0];
      acc[1] += r[1];
    }
    return acc;
  }

  /** Red (0) through yellow to green (1); rewards outside [0, 1] are clamped. */
  private static String colour(double v) {
    double t = Math.max(0, Math.min(1, v));
    int r = (int) Math.round(t < 0.5 ? 230 : 230 - (t - 0.5) * 2 * 150);
    int g = (int) Math.round(t < 0.5 ? 80 + t * 2 * 140 : 220);
    return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, 90);
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%.2f", v);
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
