package org.treeroll.engine.runtime;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A JVM of its own for a test's probe: this JVM's java and class path, output kept in a file. */
record ChildJvm(boolean exited, int exitValue, String output) {

  /**
   * Runs {@code mainClass} with {@code jvmOptions} and {@code args}, waiting at most {@code minutes};
   * one still running then is killed ({@link #exited} false).
   */
  static ChildJvm run(List<String> jvmOptions, Class<?> mainClass, List<String> args, Path dir, int minutes)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command().orElseThrow());
    command.addAll(jvmOptions);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass.getName()));
    command.addAll(args);
    Path log = dir.resolve(mainClass.getSimpleName() + ".log");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    boolean exited = p.waitFor(minutes, TimeUnit.MINUTES);
    if (!exited) {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    return new ChildJvm(exited, exited ? p.exitValue() : -1, Files.readString(log, StandardCharsets.UTF_8));
  }
}
