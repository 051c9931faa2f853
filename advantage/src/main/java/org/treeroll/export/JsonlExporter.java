package org.treeroll.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.tree.AtomicFile;

/**
 * One JSON object per answer per line. Floats are written in their shortest round-tripping form,
 * so reading a value back gives the exact float; a missing reward is null.
 */
public final class JsonlExporter implements Exporter {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Override
  public String format() {
    return "jsonl";
  }

  @Override
  public void write(Path file, BatchAdvantages batch) {
    var rows = ExportRow.of(batch);
    AtomicFile.write(file, tmp -> {
      try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
        for (ExportRow r : rows) {
          w.write(JSON.writeValueAsString(toJson(r)));
          w.newLine();
        }
      }
    });
  }

  /** One row as the JSON object a line of the export holds (the HTTP API answers with the same). */
  public static ObjectNode toJson(ExportRow r) {
    ObjectNode o = JSON.createObjectNode();
    o.put(Columns.UID, r.uid());
    o.put(Columns.TREE_ID, r.treeId());
    o.put(Columns.LEAF_ID, r.leafId());
    o.put(Columns.WEIGHT_VERSION, r.weightVersion());
    o.put(Columns.POLICY, r.policy());
    o.put(Columns.ESTIMATOR, r.estimator());
    ints(o.putArray(Columns.PROMPTS), r.prompts());
    ints(o.putArray(Columns.RESPONSES), r.responses());
    ArrayNode mask = o.putArray(Columns.RESPONSE_MASK);
    for (byte b : r.responseMask()) {
      mask.add(b);
    }
    floats(o.putArray(Columns.OLD_LOG_PROBS), r.oldLogProbs());
    floats(o.putArray(Columns.ADVANTAGES), r.advantages());
    floats(o.putArray(Columns.TOKEN_LEVEL_SCORES), r.tokenLevelScores());
    ints(o.putArray(Columns.SEGMENT_ENDS), r.segmentEnds());
    ArrayNode seg = o.putArray(Columns.SEGMENT_ADVANTAGES);
    for (double d : r.segmentAdvantages()) {
      seg.add(d);
    }
    ints(o.putArray(Columns.NODE_IDS), r.nodeIds());
    if (Double.isNaN(r.reward())) {
      o.putNull(Columns.REWARD);
    } else {
      o.put(Columns.REWARD, r.reward());
    }
    o.put(Columns.REWARD_ERROR, r.rewardError());
    o.put(Columns.FINISH_REASON, r.finishReason());
    return o;
  }

  private static void ints(ArrayNode a, int[] v) {
    for (int x : v) {
      a.add(x);
    }
  }

  private static void floats(ArrayNode a, float[] v) {
    for (float x : v) {
      a.add(x);
    }
  }
}
