package org.treeroll.engine.rl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.treeroll.tree.TreeRollException;

/**
 * Held-out accuracy against sampled forward tokens of one configuration over one or more seeds:
 * the mean at each measurement and its spread (lowest and highest seed). Measurements are
 * matched by training step; the last measurement of each run (where its step or token budget
 * ended) is matched with the others' last, since a token budget can end seeds a step apart.
 *
 * @param label the configuration
 * @param seeds runs averaged
 * @param tokens mean sampled tokens at each point
 * @param mean mean accuracy at each point
 * @param low lowest seed's accuracy at each point
 * @param high highest seed's accuracy at each point
 */
public record LearningCurve(String label, int seeds, long[] tokens, double[] mean, double[] low, double[] high) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One measurement of one run. */
  record Point(int step, long tokens, double accuracy) {}

  /**
   * A run directory (holding {@value RlRun#METRICS}) is one seed; any other directory is a
   * configuration whose subdirectories holding {@value RlRun#METRICS} are its seeds. Labelled
   * with the directory's name.
   */
  public static LearningCurve read(Path dir) {
    List<Path> runs = new ArrayList<>();
    if (Files.isRegularFile(dir.resolve(RlRun.METRICS))) {
      runs.add(dir);
    } else {
      try (Stream<Path> children = Files.list(dir)) {
        children.filter(d -> Files.isRegularFile(d.resolve(RlRun.METRICS))).sorted().forEach(runs::add);
      } catch (IOException e) {
        throw new TreeRollException(dir + ": cannot list: " + e.getMessage(), e);
      }
    }
    if (runs.isEmpty()) {
      throw new TreeRollException(dir + ": neither a run (no " + RlRun.METRICS
          + ") nor a directory of runs");
    }
    List<List<Point>> measured = new ArrayList<>();
    for (Path run : runs) {
      List<Point> points = points(run.resolve(RlRun.METRICS));
      if (points.isEmpty()) {
        throw new TreeRollException(run.resolve(RlRun.METRICS) + ": no held-out measurement");
      }
      measured.add(points);
    }
    return of(dir.getFileName().toString(), measured);
  }

  static LearningCurve of(String label, List<List<Point>> runs) {
    // Steps every run measured, before each run's last measurement.
    TreeMap<Integer, List<Point>> byStep = new TreeMap<>();
    for (List<Point> run : runs) {
      for (Point p : run.subList(0, run.size() - 1)) {
        byStep.computeIfAbsent(p.step(), k -> new ArrayList<>()).add(p);
      }
    }
    List<List<Point>> rows = new ArrayList<>();
    byStep.values().stream().filter(ps -> ps.size() == runs.size()).forEach(rows::add);
    rows.add(runs.stream().map(List::getLast).toList());
    int n = rows.size();
    long[] tokens = new long[n];
    double[] mean = new double[n];
    double[] low = new double[n];
    double[] high = new double[n];
    for (int i = 0; i < n; i++) {
      List<Point> row = rows.get(i);
      tokens[i] = Math.round(row.stream().mapToLong(Point::tokens).average().orElseThrow());
      mean[i] = row.stream().mapToDouble(Point::accuracy).average().orElseThrow();
      low[i] = row.stream().mapToDouble(Point::accuracy).min().orElseThrow();
      high[i] = row.stream().mapToDouble(Point::accuracy).max().orElseThrow();
    }
    return new LearningCurve(label, runs.size(), tokens, mean, low, high);
  }

  /** The curve of one run's measurements (a single seed). */
  static LearningCurve ofRun(String label, List<RlStep> steps) {
    List<Point> points = steps.stream().filter(s -> Double.isFinite(s.heldOutAccuracy()))
        .map(s -> new Point(s.step(), s.sampledTokens(), s.heldOutAccuracy())).toList();
    return of(label, List.of(points));
  }

  /**
   * Sampled tokens at which the mean curve first reaches {@code accuracy}, interpolated linearly
   * between the measurements around the crossing; NaN if it never does.
   */
  public double tokensToReach(double accuracy) {
    for (int i = 0; i < mean.length; i++) {
      if (mean[i] >= accuracy) {
        if (i == 0) {
          return tokens[0];
        }
        double f = (accuracy - mean[i - 1]) / (mean[i] - mean[i - 1]);
        return tokens[i - 1] + f * (tokens[i] - tokens[i - 1]);
      }
    }
    return Double.NaN;
  }

  public double finalAccuracy() {
    return mean[mean.length - 1];
  }

  public long finalTokens() {
    return tokens[tokens.length - 1];
  }

  private static List<Point> points(Path file) {
    List<Point> out = new ArrayList<>();
    try {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode n = JSON.readTree(line);
        JsonNode a = n.get("heldout_accuracy");
        if (a != null && a.isNumber()) {
          out.add(new Point(n.get("step").asInt(), n.get("sampled_tokens").asLong(), a.asDouble()));
        }
      }
    } catch (IOException e) {
      throw new TreeRollException(file + ": cannot read: " + e.getMessage(), e);
    }
    return out;
  }
}
