package org.treeroll.engine.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The median of several rounds' limits is taken field by field. */
class MachineLimitsTest {
  @Test
  void medianFieldByField() {
    MachineLimits a = new MachineLimits(10, 30, 100);
    MachineLimits b = new MachineLimits(40, 20, 300);
    MachineLimits c = new MachineLimits(20, 10, 200);
    assertThat(MachineLimits.median(List.of(a, b, c))).isEqualTo(new MachineLimits(20, 20, 200));
    assertThat(MachineLimits.median(List.of(a, b))).isEqualTo(new MachineLimits(25, 25, 200));
    assertThat(MachineLimits.median(List.of(c))).isEqualTo(c);
  }
}
