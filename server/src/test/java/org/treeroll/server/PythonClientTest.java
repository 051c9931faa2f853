package org.treeroll.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Python client (clients/python) against a real server: its own check script runs a rewarded
 * rollout, a stream, the trainer batch example and error cases, and must exit 0.
 */
class PythonClientTest {
  static final long SCRIPT_MINUTES = 3;

  @TempDir Path tmp;

  /** The repository root: the bundled model lives in its models/ folder. */
  static Path root() {
    return TestServer.bundledModel().toAbsolutePath().getParent().getParent();
  }

  static Path python3() {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path p = Path.of(dir.isEmpty() ? "." : dir, "python3");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    return fail("python3 is not on PATH; the Python client's test needs it (CI machines have it: apt-get install"
        + " python3). PATH=" + System.getenv("PATH"));
  }

  @Test
  void theClientsCheckScriptPassesAgainstARealServer() throws Exception {
    Path python = python3();
    Path script = root().resolve("clients/python/test_client.py");
    assertThat(script).isRegularFile();
    try (TestServer ts = TestServer.start(ServerOptions.defaults().withPort(0))) {
      Path log = tmp.resolve("python.log");
      ProcessBuilder pb = new ProcessBuilder(python.toString(), script.toString(), "--base-url", ts.base(),
          "--model-dir", TestServer.bundledModel().toAbsolutePath().toString())
          .directory(script.getParent().toFile()).redirectErrorStream(true).redirectOutput(log.toFile());
      pb.environment().put("PYTHONDONTWRITEBYTECODE", "1"); // no __pycache__ in the source tree
      Process p = pb.start();
      boolean exited = p.waitFor(SCRIPT_MINUTES, TimeUnit.MINUTES);
      if (!exited) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      String out = Files.readString(log);
      assertThat(exited).as("test_client.py ended within " + SCRIPT_MINUTES + " minutes; its output:\n" + out).isTrue();
      assertThat(p.exitValue()).as("test_client.py exit code; its output:\n" + out).isZero();
      assertThat(out).contains("all checks passed");
    }
  }
}
