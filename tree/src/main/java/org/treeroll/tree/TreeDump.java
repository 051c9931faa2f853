package org.treeroll.tree;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Rollout trees as JSON lines, one tree per line (schema in docs/file-formats.md). Files are
 * written to a temporary file in the same directory and renamed, so a reader never sees half a
 * dump and a crash never leaves one.
 */
public final class TreeDump {
  public static final String FORMAT = "treeroll.tree";
  public static final int VERSION = 1;
  private static final ObjectMapper JSON = new ObjectMapper();

  private TreeDump() {}

  public static void write(Path file, List<RolloutTree> trees) {
    AtomicFile.write(file, tmp -> {
      try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
        for (RolloutTree t : trees) {
          w.write(JSON.writeValueAsString(toJson(t)));
          w.newLine();
        }
      }
    });
  }

  public static List<RolloutTree> read(Path file) {
    List<RolloutTree> trees = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int lineNo = 0;
      while ((line = r.readLine()) != null) {
        lineNo++;
        if (!line.isBlank()) {
          trees.add(fromJson(line, file + ":" + lineNo));
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      throw new TreeRollException(file + ": file not found");
    } catch (IOException e) {
      throw new TreeRollException(file + ": cannot read: " + e.getMessage(), e);
    }
    return trees;
  }

  /** One tree as the JSON object a dump line holds (the HTTP API answers with the same). */
  public static ObjectNode toJson(RolloutTree t) {
    ObjectNode o = JSON.createObjectNode();
    o.put("format", FORMAT);
    o.put("version", VERSION);
    o.put("tree_id", t.id());
    o.put("weight_version", t.weightVersion());
    o.put("seed", t.root().seed());
    o.put("policy", t.policy());
    if (t.reference() != null) {
      o.put("reference", t.reference());
    }
    putInts(o.putArray("prompt"), t.prompt());
    ArrayNode nodes = o.putArray("nodes");
    for (SegmentNode n : t.nodes()) {
      if (n.parent() == null) {
        continue;
      }
      if (n.parent().id() >= n.id()) {
        throw new IllegalStateException("tree " + t.id() + " was split and not renumbered");
      }
      ObjectNode j = nodes.addObject();
      j.put("id", n.id());
      j.put("parent", n.parent().id());
      j.put("depth", n.depth());
      j.put("seed", n.seed());
      putInts(j.putArray("tokens"), n.tokens());
      ArrayNode lp = j.putArray("logprobs");
      for (float v : n.logProbs()) {
        lp.add(v);
      }
      ArrayNode en = j.putArray("entropies");
      for (float v : n.entropies()) {
        en.add(v);
      }
      if (n.finishReason() == null) {
        j.putNull("finish_reason");
      } else {
        j.put("finish_reason", n.finishReason().name().toLowerCase(Locale.ROOT));
      }
      if (n.hasReward()) {
        j.put("reward", n.reward());
      }
      if (n.rewardError() != null) {
        j.put("reward_error", n.rewardError());
      }
      if (n.refilled()) {
        j.put("refill", true);
      }
    }
    return o;
  }

  static RolloutTree fromJson(String line, String where) {
    JsonNode o;
    try {
      o = JSON.readTree(line);
    } catch (IOException e) {
      throw new TreeRollException(where + ": not valid JSON");
    }
    return fromJson(o, where);
  }

  /** One tree from the JSON object {@link #toJson} makes; {@code where} names it in errors. */
  public static RolloutTree fromJson(JsonNode o, String where) {
    if (!FORMAT.equals(o.path("format").asText())) {
      throw new TreeRollException(where + ": field 'format' must be '" + FORMAT + "'");
    }
    if (o.path("version").asInt(-1) != VERSION) {
      throw new TreeRollException(where + ": unsupported version " + o.path("version") + " (this reader knows " + VERSION + ")");
    }
    RolloutTree t = new RolloutTree(o.path("tree_id").asInt(), ints(o.path("prompt"), where, "prompt"),
        o.path("weight_version").asLong(), o.path("seed").asLong(), o.path("policy").asText("unknown"));
    JsonNode reference = o.path("reference");
    if (reference.isTextual()) {
      t.setReference(reference.asText());
    } else if (!reference.isMissingNode() && !reference.isNull()) {
      throw new TreeRollException(where + ": field 'reference' must be a string");
    }
    List<SegmentNode> byId = new ArrayList<>(List.of(t.root()));
    for (JsonNode j : o.path("nodes")) {
      int id = j.path("id").asInt(-1);
      int parent = j.path("parent").asInt(-1);
      if (id != byId.size() || parent < 0 || parent >= id) {
        throw new TreeRollException(where + ": node " + id + " with parent " + parent
            + " is out of order (ids count up from 1, parents come first)");
      }
      SegmentNode n = t.addChild(byId.get(parent), j.path("seed").asLong());
      int[] tokens = ints(j.path("tokens"), where, "tokens");
      JsonNode lp = j.path("logprobs");
      JsonNode en = j.path("entropies");
      if (lp.size() != tokens.length || en.size() != tokens.length) {
        throw new TreeRollException(where + ": node " + id + " has " + tokens.length + " tokens but "
            + lp.size() + " logprobs and " + en.size() + " entropies");
      }
      for (int i = 0; i < tokens.length; i++) {
        n.append(tokens[i], (float) lp.get(i).asDouble(), (float) en.get(i).asDouble());
      }
      JsonNode fr = j.path("finish_reason");
      if (!fr.isMissingNode() && !fr.isNull()) {
        try {
          n.finish(FinishReason.valueOf(fr.asText().toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
          throw new TreeRollException(where + ": node " + id + ": unknown finish_reason '" + fr.asText() + "'");
        }
      }
      JsonNode reward = j.path("reward");
      if (reward.isNumber()) {
        n.setReward(reward.asDouble());
      } else if (!reward.isMissingNode() && !reward.isNull()) {
        throw new TreeRollException(where + ": node " + id + ": field 'reward' must be a number");
      }
      if (j.hasNonNull("reward_error")) {
        n.setRewardError(j.path("reward_error").asText());
      }
      if (j.path("refill").asBoolean(false)) {
        n.markRefilled();
      }
      byId.add(n);
    }
    return t;
  }

  private static int[] ints(JsonNode a, String where, String field) {
    if (!a.isArray()) {
      throw new TreeRollException(where + ": field '" + field + "' must be an array of token ids");
    }
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static void putInts(ArrayNode a, int[] v) {
    for (int x : v) {
      a.add(x);
    }
  }
}
