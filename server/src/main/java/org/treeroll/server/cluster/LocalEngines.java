package org.treeroll.server.cluster;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.treeroll.tree.TreeRollException;

/**
 * Engine nodes as child JVMs on this machine ({@code treeroll serve --cluster}, the classpath of
 * this JVM), for {@code treeroll bench cluster}: each on its own Hazelcast port of loopback, all
 * listed as members, each writing its output to a log file.
 */
public final class LocalEngines implements AutoCloseable {
  private static final Pattern SERVING = Pattern.compile("on http://[^:]+:(\\d+) .*, engine (\\S+) of cluster");
  /** A JVM loading the model and joining the cluster takes seconds; on a loaded 2-core machine, tens. */
  static final long START_S = 180;

  /** One engine: its process, the port of its own HTTP API, its node id, its log. */
  public record Engine(Process process, int httpPort, String node, Path log) {}

  private final String clusterName;
  private final Path model;
  private final Path logs;
  private final long kvBudgetMb;
  private final int[] ports;
  private final List<Engine> engines = new ArrayList<>();

  /**
   * @param slots the most engines that will run at once, the router's node included
   */
  public LocalEngines(String clusterName, Path model, Path logs, long kvBudgetMb, int slots) {
    this.clusterName = clusterName;
    this.model = model;
    this.logs = logs;
    this.kvBudgetMb = kvBudgetMb;
    this.ports = freePorts(slots);
  }

  /** The cluster options of slot {@code i} (slot 0 for the router). */
  public ClusterOptions options(int slot) {
    List<String> members = new ArrayList<>();
    for (int p : ports) {
      members.add("127.0.0.1:" + p);
    }
    return new ClusterOptions(clusterName, "127.0.0.1", ports[slot], members);
  }

  /** Starts an engine on each slot (side by side); returns once all of them serve. */
  public List<Engine> start(int... slots) {
    List<Path> logFiles = new ArrayList<>();
    List<Process> processes = new ArrayList<>();
    for (int slot : slots) {
      Path log = logs.resolve("engine-" + slot + "-" + System.nanoTime() + ".log");
      logFiles.add(log);
      processes.add(launch(slot, log));
    }
    List<Engine> started = new ArrayList<>();
    try {
      for (int i = 0; i < slots.length; i++) {
        started.add(awaitServing(slots[i], processes.get(i), logFiles.get(i)));
      }
    } catch (RuntimeException e) {
      processes.forEach(Process::destroyForcibly);
      throw e;
    }
    engines.addAll(started);
    return started;
  }

  private Process launch(int slot, Path log) {
    ClusterOptions o = options(slot);
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
        "-Xmx1g", "-XX:MaxDirectMemorySize=8g", "--add-modules", "jdk.incubator.vector", "-Dai.djl.offline=true",
        "-DOPT_OUT_TRACKING=true", "-Dai.djl.pytorch.num_interop_threads=1", "--enable-native-access=ALL-UNNAMED",
        "-cp", System.getProperty("java.class.path"), "org.treeroll.cli.TreeRollCli", "serve", "--cluster",
        "--port", "0", "--model", model.toString(), "--kv-budget-mb", Long.toString(kvBudgetMb),
        "--cluster-name", clusterName, "--cluster-port", Integer.toString(o.port()),
        "--members", String.join(",", o.members())));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putIfAbsent("OMP_WAIT_POLICY", "PASSIVE"); // as the launcher sets it
    try {
      return pb.start();
    } catch (IOException e) {
      throw new TreeRollException("cannot start an engine: " + e.getMessage(), e);
    }
  }

  private Engine awaitServing(int slot, Process p, Path log) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_S);
    try {
      while (System.nanoTime() < deadline) {
        Matcher m = SERVING.matcher(Files.exists(log) ? Files.readString(log) : "");
        if (m.find()) {
          return new Engine(p, Integer.parseInt(m.group(1)), m.group(2), log);
        }
        if (!p.isAlive()) {
          throw new TreeRollException("engine on slot " + slot + " exited with " + p.exitValue() + "; its log: " + log);
        }
        Thread.sleep(200);
      }
    } catch (IOException e) {
      throw new TreeRollException("cannot read the engine's log " + log + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TreeRollException("interrupted while starting an engine", e);
    } finally {
      if (System.nanoTime() >= deadline) {
        p.destroyForcibly();
      }
    }
    throw new TreeRollException("engine on slot " + slot + " did not serve within " + START_S + " s; its log: " + log);
  }

  /** The engines started so far, killed ones included. */
  public List<Engine> engines() {
    return List.copyOf(engines);
  }

  /** Kills an engine outright (SIGKILL): no goodbye to the cluster. */
  public void kill(Engine e) throws InterruptedException {
    e.process().destroyForcibly().waitFor(1, TimeUnit.MINUTES);
  }

  @Override
  public void close() {
    for (Engine e : engines) {
      e.process().destroy();
    }
    for (Engine e : engines) {
      try {
        if (!e.process().waitFor(20, TimeUnit.SECONDS)) {
          e.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException x) {
        Thread.currentThread().interrupt();
        e.process().destroyForcibly();
      }
    }
  }

  private static int[] freePorts(int n) {
    int[] ports = new int[n];
    List<ServerSocket> held = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        ServerSocket s = new ServerSocket(0);
        held.add(s);
        ports[i] = s.getLocalPort();
      }
    } catch (IOException e) {
      throw new TreeRollException("no free ports on loopback: " + e.getMessage(), e);
    } finally {
      for (ServerSocket s : held) {
        try {
          s.close();
        } catch (IOException ignored) {
          // the port is free either way
        }
      }
    }
    return ports;
  }
}
