package org.treeroll.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.treeroll.advantage.AdvantageEstimator;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.TreeDump;
import org.treeroll.viewer.TreeViewer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Draws tree dumps as one self-contained HTML page (docs/viewer.md). */
@Command(name = "view", mixinStandardHelpOptions = true,
    description = "Write an HTML page that draws tree dumps: every tree as a graph of segments, each segment's text"
        + " with tokens shaded by log-prob or entropy, colours by reward, advantage or finish reason.")
final class ViewCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", paramLabel = "DUMP", description = "Tree dumps (treeroll.tree JSON lines)")
  List<Path> dumps;

  @Option(names = "--out", paramLabel = "FILE", description = "The page to write (default: view.html next to the first dump)")
  Path out;

  // Split at commas that start a new estimator, not at those between one estimator's parameters.
  @Option(names = "--estimator", paramLabel = "NAME", split = ",(?![^,:]*=)", splitSynopsisLabel = ",",
      description = "Advantage estimators the page offers, the first shown first (default: every registered one),"
          + " e.g. treepo,grpo:std=false,eps=1e-6,spo,rose:lambda=0.5")
  List<String> estimators;

  @Option(names = "--tokenizer", paramLabel = "DIR",
      description = "Directory with the tokenizer.json that decodes the dump's token ids (default: the --model's)")
  Path tokenizer;

  @Mixin ModelOption model = new ModelOption();

  @Override
  public Integer call() {
    // Build the estimators first: a bad name fails before any dump is read.
    List<AdvantageEstimator> es = (estimators != null ? estimators : AdvantageEstimators.names().stream().sorted().toList())
        .stream().map(AdvantageEstimators::create).toList();
    List<RolloutTree> trees = new ArrayList<>();
    for (Path d : dumps) {
      AnalyzeCommand.checkRun(d);
      trees.addAll(TreeDump.read(d));
    }
    Path tokenizerDir = tokenizer != null ? tokenizer : model.resolve();
    String html;
    try (TextTokenizer tok = TextTokenizer.load(tokenizerDir)) {
      String source = dumps.size() == 1 ? dumps.get(0).getFileName().toString() : dumps.size() + " dumps";
      html = TreeViewer.page(source, trees, tok, tokenizerDir.getFileName().toString(), es);
    }
    Path page = out != null ? out : dumps.get(0).toAbsolutePath().resolveSibling("view.html");
    AtomicFile.write(page, tmp -> Files.writeString(tmp, html));
    System.out.printf("wrote %s: %d trees, %d segments (open it in a browser)%n", page, trees.size(),
        trees.stream().mapToInt(t -> t.nodes().size() - 1).sum());
    return 0;
  }
}
