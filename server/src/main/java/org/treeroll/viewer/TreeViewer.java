package org.treeroll.viewer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.treeroll.advantage.AdvantageEstimator;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.advantage.PathAdvantage;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeDump;

/**
 * Renders rollout trees as one HTML page: the page's script and style come from
 * {@code viewer.html} next to this class, the data (decoded token pieces, log-probs, entropies,
 * rewards, finish reasons, refill marks and each estimator's advantages) is inlined as JSON. The
 * page fetches nothing, so it works from a file or behind a firewall.
 */
public final class TreeViewer {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String TEMPLATE = template();
  private static final String DATA_SLOT = "/*TREEROLL_DATA*/";
  private static final String TITLE_SLOT = "<!--TREEROLL_TITLE-->";

  private TreeViewer() {}

  /**
   * The page for {@code trees}. Each estimator sees the whole batch, as at export time (TreePO
   * whitens over every token of the batch); a node's advantage is the mean over the answers
   * through it, since estimators that broadcast the leaf's value (GRPO) differ per answer.
   *
   * @param source what the trees are (a file name, a rollout id), shown in the page's title
   * @param tokenizerName where the tokenizer came from, shown on the page
   */
  public static String page(String source, List<RolloutTree> trees, TextTokenizer tokenizer, String tokenizerName,
      List<AdvantageEstimator> estimators) {
    ObjectNode data = JSON.createObjectNode();
    data.put("source", source);
    data.put("tokenizer", tokenizerName);
    ArrayNode names = data.putArray("estimators");
    List<Map<SegmentNode, double[]>> advantages = estimators.stream().map(e -> {
      names.add(e.name());
      return nodeAdvantages(e.estimate(trees));
    }).toList();
    ArrayNode ts = data.putArray("trees");
    for (RolloutTree t : trees) {
      ts.add(treeJson(t, tokenizer, advantages));
    }
    String json;
    try {
      json = JSON.writeValueAsString(data);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    // '<' only occurs inside JSON strings, where \u003c means the same: no "</script>" can end the block.
    return TEMPLATE.replace(TITLE_SLOT, escapeHtml("TreeRoll trees: " + source))
        .replace(DATA_SLOT, json.replace("<", "\\u003c"));
  }

  /** The tree as its dump line holds it, plus decoded text and advantages for the page. */
  private static ObjectNode treeJson(RolloutTree t, TextTokenizer tokenizer, List<Map<SegmentNode, double[]>> advantages) {
    ObjectNode o = TreeDump.toJson(t);
    o.put("prompt_text", tokenizer.decode(t.prompt(), false));
    o.put("distinct_tokens", t.distinctTokens());
    o.put("independent_tokens", t.independentTokens());
    List<SegmentNode> nodes = t.nodes().subList(1, t.nodes().size()); // the dump's order, the root left out
    for (int i = 0; i < nodes.size(); i++) {
      SegmentNode n = nodes.get(i);
      ObjectNode j = (ObjectNode) o.get("nodes").get(i);
      ArrayNode pieces = j.putArray("pieces");
      for (String p : pieces(tokenizer, n.tokens())) {
        pieces.add(p);
      }
      ArrayNode adv = j.putArray("advantages");
      for (Map<SegmentNode, double[]> a : advantages) {
        double[] acc = a.get(n);
        if (acc == null) {
          adv.addNull(); // no rewarded answer runs through this node
        } else {
          adv.addArray().add(acc[0] / acc[1]).add(acc[2]).add(acc[3]).add((int) acc[1]);
        }
      }
    }
    return o;
  }

  /** Per node: {sum, answers, min, max} of the advantages the rewarded answers through it got. */
  private static Map<SegmentNode, double[]> nodeAdvantages(BatchAdvantages batch) {
    Map<SegmentNode, double[]> out = new IdentityHashMap<>();
    for (PathAdvantage p : batch.paths()) {
      if (!p.included()) {
        continue;
      }
      List<SegmentNode> path = RolloutTree.path(p.leaf());
      for (int s = 0; s < p.segmentAdvantages().length; s++) {
        double v = p.segmentAdvantages()[s];
        double[] acc = out.computeIfAbsent(path.get(s + 1), k -> new double[] {0, 0, v, v});
        acc[0] += v;
        acc[1]++;
        acc[2] = Math.min(acc[2], v);
        acc[3] = Math.max(acc[3], v);
      }
    }
    return out;
  }

  /**
   * The text of each token, such that the pieces joined are exactly the segment decoded alone.
   * Tokens are decoded as growing prefixes because one token alone may be part of a character
   * (byte-level BPE) or decode differently than in context; a token whose text is not complete
   * yet gets an empty piece and the next one carries it.
   */
  static String[] pieces(TextTokenizer tokenizer, int[] tokens) {
    String[] out = new String[tokens.length];
    String whole = tokenizer.decode(tokens, false);
    StringBuilder emitted = new StringBuilder();
    for (int i = 0; i < tokens.length; i++) {
      String prefix = i == tokens.length - 1 ? whole : tokenizer.decode(Arrays.copyOf(tokens, i + 1), false);
      boolean complete = prefix.startsWith(emitted.toString()) && !prefix.endsWith("\uFFFD") && whole.startsWith(prefix);
      if (i == tokens.length - 1) {
        out[i] = whole.substring(Math.min(emitted.length(), whole.length()));
      } else if (complete) {
        out[i] = prefix.substring(emitted.length());
      } else {
        out[i] = "";
      }
      emitted.append(out[i]);
    }
    if (!emitted.toString().equals(whole)) {
      // Decoding a prefix changed text already emitted: show the whole segment on its first token.
      Arrays.fill(out, "");
      out[0] = whole;
    }
    return out;
  }

  private static String escapeHtml(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  private static String template() {
    try (InputStream in = TreeViewer.class.getResourceAsStream("viewer.html")) {
      if (in == null) {
        throw new IllegalStateException("viewer.html is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read viewer.html", e);
    }
  }
}
