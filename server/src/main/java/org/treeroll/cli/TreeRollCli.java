package org.treeroll.cli;

import java.io.PrintWriter;
import org.treeroll.tree.TreeRollException;
import org.slf4j.bridge.SLF4JBridgeHandler;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code treeroll} command line. Errors are one line on stderr and a non-zero exit code. */
@Command(
    name = "treeroll",
    mixinStandardHelpOptions = true,
    version = "treeroll 0.1.0",
    description = "Tree-search rollouts for RL of language models.",
    subcommands = {
      DemoCommand.class,
      EvalCommand.class,
      GenerateCommand.class,
      ScoreCommand.class,
      GenModelCommand.class,
      TrainModelCommand.class,
      TrainRlCommand.class,
      BenchCommand.class,
      AnalyzeCommand.class,
      ViewCommand.class,
      ServeCommand.class,
      RolloutCommand.class,
      CommandLine.HelpCommand.class
    })
public final class TreeRollCli {
  /** Exit code for input the user can fix (bad file, bad option value). */
  static final int EXIT_USER_ERROR = 1;
  /** Exit code for a bug: something TreeRoll did not expect. */
  static final int EXIT_INTERNAL_ERROR = 70;

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  static {
    // Libraries that log through java.util.logging (Caffeine, the JDK's System.Logger) would print
    // their own multi-line records on stderr; route them through logback.xml like everything else.
    SLF4JBridgeHandler.removeHandlersForRootLogger();
    SLF4JBridgeHandler.install();
  }

  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new TreeRollCli());
    cli.setExecutionExceptionHandler((thrown, cmd, parsed) -> {
      PrintWriter err = cmd.getErr();
      // The engine answers with futures: what failed is inside the CompletionException.
      Exception e = thrown instanceof java.util.concurrent.CompletionException c && c.getCause() instanceof Exception x
          ? x : thrown;
      if (e instanceof TreeRollException) {
        err.println("treeroll: error: " + e.getMessage());
        err.flush();
        return EXIT_USER_ERROR;
      }
      if (System.getenv("TREEROLL_DEBUG") != null) {
        e.printStackTrace(err);
      }
      err.println("treeroll: internal error: " + e + " (set TREEROLL_DEBUG=1 for the stack trace)");
      err.flush();
      return EXIT_INTERNAL_ERROR;
    });
    cli.setParameterExceptionHandler((e, args) -> {
      CommandLine cmd = e.getCommandLine();
      cmd.getErr().println("treeroll: error: " + e.getMessage() + " (see '"
          + cmd.getCommandSpec().qualifiedName() + " --help')");
      cmd.getErr().flush();
      return cmd.getCommandSpec().exitCodeOnInvalidInput();
    });
    return cli;
  }
}
