package org.treeroll.engine.runtime;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Prints at the end of a test run which forward paths its steps ran on, so a run on a JDK or
 * device without the Java kernels says so instead of passing on PyTorch alone unnoticed.
 * Registered in {@code META-INF/services}.
 */
public class ForwardPathCoverage implements LauncherSessionListener {
  @Override
  public void launcherSessionClosed(LauncherSession session) {
    ForwardSteps steps = ForwardSteps.inThisJvm();
    if (steps.total() > 0) {
      System.out.println("forward paths covered in this JVM: " + steps);
    }
  }
}
