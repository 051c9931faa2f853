package org.treeroll.tree;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Set;
import org.junit.jupiter.api.Test;

class ComponentRegistryTest {
  record Widget(String name, double size, boolean round) {}

  private final ComponentRegistry<Widget> registry = new ComponentRegistry<Widget>("widget")
      .register("disc", Set.of("size", "round"), s -> new Widget(s.name(), s.number("size", 1), s.flag("round", true)))
      .register("plain", Set.of(), s -> new Widget(s.name(), 0, false));

  @Test
  void buildsByNameWithParameters() {
    assertThat(registry.create("disc")).isEqualTo(new Widget("disc", 1, true));
    assertThat(registry.create(" Disc : size=2.5, round=false ")).isEqualTo(new Widget("disc", 2.5, false));
    assertThat(ComponentSpec.parse("widget", "disc:size=2,round=no").toString()).isEqualTo("disc:round=no,size=2");
  }

  @Test
  void badNamesAndParametersAreNamedWithTheValidChoices() {
    assertThatThrownBy(() -> registry.create("cube")).isInstanceOf(TreeRollException.class)
        .hasMessage("unknown widget 'cube'; valid: disc, plain");
    assertThatThrownBy(() -> registry.create("disc:colour=red")).isInstanceOf(TreeRollException.class)
        .hasMessage("widget 'disc' has no parameter 'colour'; valid: round, size");
    assertThatThrownBy(() -> registry.create("plain:x=1")).hasMessageContaining("valid: none");
    assertThatThrownBy(() -> registry.create("disc:size=big")).isInstanceOf(TreeRollException.class)
        .hasMessage("widget 'disc': parameter 'size' must be a finite number, got 'big'");
    assertThatThrownBy(() -> registry.create("disc:round=maybe")).hasMessageContaining("true or false");
    assertThatThrownBy(() -> registry.create("disc:size")).hasMessageContaining("key=value");
    assertThatThrownBy(() -> registry.create("disc:size=1,size=2")).hasMessageContaining("twice");
    assertThatThrownBy(() -> registry.create(" ")).hasMessageContaining("widget is empty");
  }

  @Test
  void numbersAreFiniteAndInRange() {
    ComponentSpec s = ComponentSpec.parse("widget", "disc:size=NaN,big=Infinity,eps=1.5,k=101,n=0");
    assertThatThrownBy(() -> s.number("size", 1)).hasMessage("widget 'disc': parameter 'size' must be a finite number, got 'NaN'");
    assertThatThrownBy(() -> s.number("big", 1, 0, 10)).hasMessageContaining("'big' must be a finite number, got 'Infinity'");
    assertThatThrownBy(() -> s.number("eps", 0.5, 0, 1)).hasMessage("widget 'disc': parameter 'eps' must be between 0 and 1, got '1.5'");
    assertThatThrownBy(() -> s.integer("k", 20, 2, 100)).hasMessageContaining("'k' must be between 2 and 100, got '101'");
    assertThatThrownBy(() -> s.integer("n", 1, 1, Integer.MAX_VALUE)).hasMessageContaining("'n' must be at least 1, got '0'");
    assertThat(s.number("absent", 7, 0, 1)).as("the fallback is not checked").isEqualTo(7);
    assertThat(ComponentSpec.parse("widget", "disc:eps=0.25").number("eps", 0.5, 0, 1)).isEqualTo(0.25);
  }
}
