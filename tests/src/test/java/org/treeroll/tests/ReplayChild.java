package org.treeroll.tests;

import java.nio.file.Path;
import java.util.List;
import org.treeroll.engine.InferenceSession;
import org.treeroll.engine.LoadedModel;

/** {@link BatchInvariantTest}'s new process: runs its request alone on the model directory given and prints the fingerprint. */
public final class ReplayChild {
  static final String MARKER = "replay ";

  private ReplayChild() {}

  public static void main(String[] args) {
    try (LoadedModel model = LoadedModel.open(Path.of(args[0]));
        InferenceSession session = new InferenceSession(null, model, 64L << 20, 4, 64)) {
      var c = session.generate(List.of(BatchInvariantTest.prompt()),
          BatchInvariantTest.params().withBatchInvariant(true)).orTimeout(2, java.util.concurrent.TimeUnit.MINUTES).join().get(0);
      System.out.println(MARKER + BatchInvariantTest.fingerprint(c));
    }
  }
}
