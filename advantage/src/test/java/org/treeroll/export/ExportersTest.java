package org.treeroll.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.advantage.AdvantageEstimators;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.tree.FinishReason;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.SegmentNode;
import org.treeroll.tree.TreeRollException;

class ExportersTest {
  @TempDir Path dir;

  private static final List<String> INT_LISTS = List.of("prompts", "responses", "response_mask", "segment_ends", "node_ids");
  private static final List<String> FLOAT_LISTS = List.of("old_log_probs", "advantages", "token_level_scores");

  /** Two trees: scored, failed, unscored and empty answers; log-probs that are not round decimals. */
  static List<RolloutTree> batch() {
    RolloutTree t0 = new RolloutTree(0, new int[] {5, 6, 7}, 3, 11, "entropy:threshold=2.5");
    SegmentNode a = t0.addChild(t0.root(), 1);
    for (int i = 0; i < 4; i++) {
      a.append(100 + i, (float) -Math.PI / (i + 1), 0.3f);
    }
    SegmentNode a1 = t0.addChild(a, 2);
    a1.append(200, -0.1f, 0.1f);
    a1.append(201, -1e-7f, 0.1f);
    a1.finish(FinishReason.ANSWERED);
    a1.setReward(1);
    SegmentNode a2 = t0.addChild(a, 3);
    a2.append(300, -2.5f, 0.2f);
    a2.finish(FinishReason.EOS);
    a2.setReward(0.25);
    SegmentNode failed = t0.addChild(a, 4);
    failed.append(400, -0.7f, 0.2f);
    failed.finish(FinishReason.MAX_TOKENS);
    failed.setRewardError("judge: \"timeout\", line\nbreak");
    SegmentNode empty = t0.addChild(t0.root(), 5);
    empty.finish(FinishReason.EOS);
    empty.setReward(0);

    RolloutTree t1 = new RolloutTree(1, new int[] {9}, 3, 12, "uniform");
    SegmentNode b = t1.addChild(t1.root(), 1);
    b.append(500, -0.33f, 1f);
    b.setReward(-1);
    SegmentNode unscored = t1.addChild(t1.root(), 2);
    unscored.append(600, -0.9f, 1f);
    unscored.append(601, -0.8f, 1f);
    return List.of(t0, t1);
  }

  @Test
  void parquetReadByDuckDbEqualsJsonl() throws Exception {
    BatchAdvantages adv = AdvantageEstimators.create("treepo").estimate(batch());
    Path jsonl = dir.resolve("paths.jsonl");
    Path parquet = dir.resolve("paths.parquet");
    Exporter.forFormat("jsonl").write(jsonl, adv);
    Exporter.forFormat("parquet").write(parquet, adv);

    Map<String, JsonNode> expected = new HashMap<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(jsonl)) {
      JsonNode o = json.readTree(line);
      expected.put(o.get("uid").asText() + "/" + o.get("leaf_id").asInt(), o);
    }
    assertThat(expected).hasSize(6);

    int rows = 0;
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:");
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT * FROM read_parquet('" + parquet + "')")) {
      while (rs.next()) {
        rows++;
        JsonNode e = expected.get(rs.getString("uid") + "/" + rs.getInt("leaf_id"));
        assertThat(e).as("row %s/%s in the JSONL", rs.getString("uid"), rs.getInt("leaf_id")).isNotNull();
        assertThat(rs.getInt("tree_id")).isEqualTo(e.get("tree_id").asInt());
        assertThat(rs.getLong("weight_version")).isEqualTo(e.get("weight_version").asLong());
        for (String col : List.of("policy", "estimator", "reward_error", "finish_reason")) {
          assertThat(rs.getString(col)).as(col).isEqualTo(e.get(col).isNull() ? null : e.get(col).asText());
        }
        for (String col : INT_LISTS) {
          assertThat(numbers(rs, col).stream().map(Number::longValue).toList()).as(col)
              .isEqualTo(jsonNumbers(e, col).stream().map(JsonNode::asLong).toList());
        }
        for (String col : FLOAT_LISTS) {
          // JSON holds the shortest text of the float: parsing it and rounding to float is exact.
          assertThat(numbers(rs, col).stream().map(Number::floatValue).toList()).as(col)
              .isEqualTo(jsonNumbers(e, col).stream().map(n -> (float) n.asDouble()).toList());
        }
        assertThat(numbers(rs, "segment_advantages").stream().map(Number::doubleValue).toList())
            .isEqualTo(jsonNumbers(e, "segment_advantages").stream().map(JsonNode::asDouble).toList());
        double reward = rs.getDouble("reward");
        if (rs.wasNull()) {
          assertThat(e.get("reward").isNull()).isTrue();
        } else {
          assertThat(reward).isEqualTo(e.get("reward").asDouble());
        }
      }
    }
    assertThat(rows).isEqualTo(6);
  }

  @Test
  void rowsCarryWhatTheTrainerNeeds() throws Exception {
    BatchAdvantages adv = AdvantageEstimators.create("grpo:eps=0").estimate(batch());
    Path jsonl = dir.resolve("rows.jsonl");
    new JsonlExporter().write(jsonl, adv);
    List<JsonNode> rows = new ArrayList<>();
    for (String line : Files.readAllLines(jsonl)) {
      rows.add(new ObjectMapper().readTree(line));
    }
    JsonNode a1 = rows.get(0);
    assertThat(a1.get("uid").asText()).isEqualTo("3-0");
    assertThat(a1.get("prompts").toString()).isEqualTo("[5,6,7]");
    assertThat(a1.get("responses").toString()).isEqualTo("[100,101,102,103,200,201]");
    assertThat(a1.get("response_mask").toString()).isEqualTo("[1,1,1,1,1,1]");
    assertThat(a1.get("segment_ends").toString()).isEqualTo("[4,6]");
    assertThat(a1.get("token_level_scores").toString()).isEqualTo("[0.0,0.0,0.0,0.0,0.0,1.0]");
    assertThat((float) a1.get("old_log_probs").get(5).asDouble()).isEqualTo(-1e-7f);
    assertThat(a1.get("finish_reason").asText()).isEqualTo("answered");
    assertThat(a1.get("estimator").asText()).isEqualTo("grpo:eps=0.0,std=true");
    // tree 0 rewards 1, .25, 0 (the failed one is out): mean 5/12; sample std
    // sqrt((49/144 + 4/144 + 25/144) / 2) = sqrt(78/288) = .5204164998665332;
    // a1: (7/12) / .5204164998665332 = 1.1208970766356...
    assertThat((float) a1.get("advantages").get(0).asDouble()).isEqualTo((float) (7.0 / 12 / Math.sqrt(78.0 / 288)));

    JsonNode failed = rows.get(2);
    assertThat(failed.get("reward").isNull()).isTrue();
    assertThat(failed.get("reward_error").asText()).isEqualTo("judge: \"timeout\", line\nbreak");
    assertThat(failed.get("response_mask").toString()).isEqualTo("[0,0,0,0,0]");
    assertThat(failed.get("advantages").toString()).isEqualTo("[0.0,0.0,0.0,0.0,0.0]");
    assertThat(failed.get("token_level_scores").toString()).isEqualTo("[0.0,0.0,0.0,0.0,0.0]");

    JsonNode empty = rows.get(3);
    assertThat(empty.get("responses").toString()).isEqualTo("[]");
    assertThat(empty.get("reward").asDouble()).isZero();

    JsonNode unscored = rows.get(5);
    assertThat(unscored.get("uid").asText()).isEqualTo("3-1");
    assertThat(unscored.get("reward").isNull()).isTrue();
    assertThat(unscored.get("reward_error").isNull()).isTrue();
  }

  @Test
  void parquetColumnTypes() throws Exception {
    Path parquet = dir.resolve("types.parquet");
    new ParquetExporter().write(parquet, AdvantageEstimators.create("spo").estimate(batch()));
    Map<String, String> types = new HashMap<>();
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:");
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("DESCRIBE SELECT * FROM read_parquet('" + parquet + "')")) {
      while (rs.next()) {
        types.put(rs.getString("column_name"), rs.getString("column_type"));
      }
    }
    assertThat(types).containsEntry("prompts", "INTEGER[]").containsEntry("responses", "INTEGER[]")
        .containsEntry("response_mask", "TINYINT[]").containsEntry("old_log_probs", "FLOAT[]")
        .containsEntry("advantages", "FLOAT[]").containsEntry("segment_advantages", "DOUBLE[]")
        .containsEntry("reward", "DOUBLE").containsEntry("uid", "VARCHAR").containsEntry("weight_version", "BIGINT");
  }

  @Test
  void writesReplaceTheFileAtomically() throws Exception {
    Path parquet = dir.resolve("out.parquet");
    Files.writeString(parquet, "old contents");
    new ParquetExporter().write(parquet, AdvantageEstimators.create("spo").estimate(batch()));
    assertThat(Files.readAllBytes(parquet)).startsWith("PAR1".getBytes());
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactly("out.parquet");
    }
  }

  @Test
  void sameUidForTwoTreesIsRefused() {
    RolloutTree a = new RolloutTree(4, new int[] {1}, 2, 1, "p");
    a.addChild(a.root(), 1).setReward(1);
    RolloutTree b = new RolloutTree(4, new int[] {2}, 2, 1, "p");
    b.addChild(b.root(), 1).setReward(1);
    BatchAdvantages adv = AdvantageEstimators.create("grpo").estimate(List.of(a, b));
    assertThatThrownBy(() -> new JsonlExporter().write(dir.resolve("x.jsonl"), adv))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("tree_id 4").hasMessageContaining("uid '2-4'");
    assertThat(dir.resolve("x.jsonl")).doesNotExist();
  }

  @Test
  void emptyBatchWritesEmptyFiles() throws Exception {
    BatchAdvantages none = AdvantageEstimators.create("spo").estimate(List.of());
    Path parquet = dir.resolve("empty.parquet");
    Path verl = dir.resolve("empty.verl.parquet");
    new ParquetExporter().write(parquet, none);
    new VerlExporter(0).write(verl, none);
    new JsonlExporter().write(dir.resolve("empty.jsonl"), none);
    assertThat(Files.readString(dir.resolve("empty.jsonl"))).isEmpty();
    for (Path p : List.of(parquet, verl)) {
      try (Connection c = DriverManager.getConnection("jdbc:duckdb:");
          Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT count(*) FROM read_parquet('" + p + "')")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getLong(1)).as("rows of %s", p.getFileName()).isZero();
      }
    }
  }

  @Test
  void unknownFormatListsTheValidOnes() {
    assertThatThrownBy(() -> Exporter.forFormat("csv"))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("'csv'").hasMessageContaining("jsonl, parquet");
  }

  static List<Number> numbers(ResultSet rs, String col) throws Exception {
    Object[] a = (Object[]) rs.getArray(col).getArray();
    List<Number> out = new ArrayList<>();
    for (Object o : a) {
      out.add((Number) o);
    }
    return out;
  }

  static List<JsonNode> jsonNumbers(JsonNode row, String col) {
    List<JsonNode> out = new ArrayList<>();
    row.get(col).forEach(out::add);
    return out;
  }
}
