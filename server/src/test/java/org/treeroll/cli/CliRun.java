package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;

/**
 * One run of the {@code treeroll} command line in-process, with what it printed: {@code err} is
 * the command line's own error output, {@code stderr} everything else written to System.err
 * meanwhile (progress bars, log records).
 */
record CliRun(int code, String out, String err, String stderr) {

  static CliRun of(String... args) {
    // Commands print their results on System.out; picocli's own output goes to cli's writers.
    // The streams are swapped first: picocli falls back to System.err when it changed since setErr.
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    ByteArrayOutputStream capturedErr = new ByteArrayOutputStream();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(capturedErr, true, StandardCharsets.UTF_8));
    try {
      CommandLine cli = TreeRollCli.commandLine();
      StringWriter out = new StringWriter();
      StringWriter err = new StringWriter();
      cli.setOut(new PrintWriter(out));
      cli.setErr(new PrintWriter(err));
      int code = cli.execute(args);
      return new CliRun(code, captured.toString(StandardCharsets.UTF_8) + out, err.toString(),
          capturedErr.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }

  /** The run failed with one line on stderr naming every fragment, and no stack trace. */
  void assertOneLineError(String... fragments) {
    assertThat(code).as("exit code; stderr: %s", err).isEqualTo(TreeRollCli.EXIT_USER_ERROR);
    String line = err.strip();
    assertThat(line).as("a single line").doesNotContain("\n").startsWith("treeroll: error: ");
    assertThat(line).doesNotContain("Exception").doesNotContain("\tat ");
    for (String f : fragments) {
      assertThat(line).contains(f);
    }
  }
}
