package org.treeroll.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.treeroll.tree.TreeRollException;

class EngineSelectorTest {
  private static final int[] SYSTEM_A = {1, 2, 3, 4, 5, 6, 7, 8, 10};
  private static final int[] SYSTEM_B = {9, 8, 7, 6, 5, 4, 3, 2, 10};

  private static EngineView engine(String node, int maxInFlight) {
    return new EngineView(node, node, "m", 0, maxInFlight);
  }

  private static int[] prompt(int[] system, int question) {
    int[] p = java.util.Arrays.copyOf(system, system.length + 1);
    p[system.length] = question;
    return p;
  }

  @Test
  void promptsSharingAPrefixGoWhereItWasSentAndNewOnesToTheLeastLoaded() {
    EngineSelector s = RoutingOptions.defaults().selector();
    List<EngineView> es = List.of(engine("a", 64), engine("b", 64), engine("c", 64));
    EngineSelector.Choice first = s.choose(es, prompt(SYSTEM_A, 1));
    assertThat(first.reason()).isEqualTo(EngineSelector.Reason.LEAST_LOADED);
    EngineSelector.Choice other = s.choose(es, prompt(SYSTEM_B, 1));
    assertThat(other.engine()).as("an unrelated prompt goes to an engine that has routed less").isNotSameAs(first.engine());
    for (int q = 2; q < 10; q++) {
      EngineSelector.Choice c = s.choose(es, prompt(SYSTEM_A, q));
      assertThat(c.engine()).isSameAs(first.engine());
      assertThat(c.reason()).isEqualTo(EngineSelector.Reason.PREFIX);
      assertThat(c.matched()).isEqualTo(SYSTEM_A.length);
    }
  }

  @Test
  void aSaturatedOrOverloadedPreferredEngineSpillsToTheLeastLoaded() {
    EngineSelector s = new RoutingOptions(false, 0.3, 2, 1.5).selector();
    EngineView a = engine("a", 64);
    EngineView b = engine("b", 64);
    List<EngineView> es = List.of(a, b);
    assertThat(s.choose(es, prompt(SYSTEM_A, 0)).engine()).isSameAs(a);
    for (int i = 0; i < 3; i++) {
      a.pending.add(new ClusterRouter.Dispatch("x" + i, new byte[0], new int[0], null));
    }
    EngineSelector.Choice c = s.choose(es, prompt(SYSTEM_A, 1));
    assertThat(c.engine()).as("3 in flight against 0: out of balance past 2").isSameAs(b);
    assertThat(c.reason()).isEqualTo(EngineSelector.Reason.SPILL);

    EngineView full = engine("full", 1);
    EngineView idle = engine("idle", 64);
    EngineSelector t = RoutingOptions.defaults().selector();
    assertThat(t.choose(List.of(full, idle), prompt(SYSTEM_B, 0)).engine()).isSameAs(full);
    full.pending.add(new ClusterRouter.Dispatch("y", new byte[0], new int[0], null));
    assertThat(t.choose(List.of(full, idle), prompt(SYSTEM_B, 1)).reason()).isEqualTo(EngineSelector.Reason.SPILL);
  }

  @Test
  void roundRobinIgnoresPrefixes() {
    EngineSelector s = new RoutingOptions(true, 0.3, 32, 1.5).selector();
    List<EngineView> es = List.of(engine("a", 64), engine("b", 64));
    assertThat(s.choose(es, SYSTEM_A).engine()).isNotSameAs(s.choose(es, SYSTEM_A).engine());
  }

  @Test
  void badThresholdsAreRefusedByName() {
    assertThatThrownBy(() -> new RoutingOptions(false, 1.5, 32, 1.5).selector()).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("--cache-threshold");
    assertThatThrownBy(() -> new RoutingOptions(false, 0.3, 32, 0.5).selector()).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("--balance-rel");
  }
}
