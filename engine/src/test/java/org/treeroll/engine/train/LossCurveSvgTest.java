package org.treeroll.engine.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

class LossCurveSvgTest {
  @Test
  void rendersWellFormedSvgWithBothCurves() throws Exception {
    double[] losses = new double[300];
    for (int i = 0; i < losses.length; i++) {
      losses[i] = 5.5 * Math.exp(-i / 40.0) + 0.02;
    }
    String svg = LossCurveSvg.render(losses, "loss <test> & more");
    Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder()
        .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    assertThat(doc.getDocumentElement().getTagName()).isEqualTo("svg");
    assertThat(doc.getElementsByTagName("polyline").getLength()).isEqualTo(2);
    String points = ((org.w3c.dom.Element) doc.getElementsByTagName("polyline").item(0)).getAttribute("points");
    assertThat(points.trim().split(" ")).hasSize(losses.length);
    assertThat(svg).contains(">0.01<").contains(">10<");
  }

  @Test
  void movingAverageSmoothsAndKeepsLength() {
    double[] avg = LossCurveSvg.movingAverage(new double[] {4, 2, 0, 2}, 2);
    assertThat(avg).containsExactly(4, 3, 1, 1);
  }
}
