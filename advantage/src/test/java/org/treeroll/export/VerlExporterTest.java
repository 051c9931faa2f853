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
import org.treeroll.tree.TreeRollException;

class VerlExporterTest {
  private static final int PAD = 257;

  @TempDir Path dir;

  /**
   * The batch of {@link ExportersTest#batch}: prompts of 3 and 1 tokens, responses of 6, 5, 5, 0,
   * 1 and 2 tokens. DuckDB reads the file back; every row is checked against the unpadded JSONL.
   */
  @Test
  void paddedTensorsReadByDuckDb() throws Exception {
    BatchAdvantages adv = AdvantageEstimators.create("treepo").estimate(ExportersTest.batch());
    Path jsonl = dir.resolve("rows.jsonl");
    Path verl = dir.resolve("verl.parquet");
    new JsonlExporter().write(jsonl, adv);
    new VerlExporter(PAD).write(verl, adv);
    Map<String, JsonNode> expected = new HashMap<>();
    for (String line : Files.readAllLines(jsonl)) {
      JsonNode o = new ObjectMapper().readTree(line);
      expected.put(o.get("uid").asText() + "/" + o.get("leaf_id").asInt(), o);
    }
    int promptLen = 3;
    int responseLen = 6;
    int rows = 0;
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:");
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT * FROM read_parquet('" + verl + "')")) {
      while (rs.next()) {
        rows++;
        JsonNode e = expected.get(rs.getString("uid") + "/" + rs.getInt("leaf_id"));
        assertThat(e).isNotNull();
        List<Long> prompt = longs(e, "prompts");
        List<Long> response = longs(e, "responses");
        int lead = promptLen - prompt.size();
        int n = response.size();

        List<Long> prompts = new ArrayList<>(nCopies(lead, PAD));
        prompts.addAll(prompt);
        List<Long> responses = new ArrayList<>(response);
        responses.addAll(nCopies(responseLen - n, PAD));
        List<Long> inputIds = new ArrayList<>(prompts);
        inputIds.addAll(responses);
        List<Long> attention = new ArrayList<>(nCopies(lead, 0));
        attention.addAll(nCopies(prompt.size() + n, 1));
        attention.addAll(nCopies(responseLen - n, 0));
        // Positions count real tokens from 0: 0 over the left padding, flat over the right.
        List<Long> positions = new ArrayList<>(nCopies(lead, 0));
        for (int i = 0; i < prompt.size() + n; i++) {
          positions.add((long) i);
        }
        positions.addAll(nCopies(responseLen - n, Math.max(0, prompt.size() + n - 1)));

        assertThat(ints(rs, "prompts")).as("prompts").isEqualTo(prompts);
        assertThat(ints(rs, "responses")).as("responses").isEqualTo(responses);
        assertThat(ints(rs, "input_ids")).as("input_ids").isEqualTo(inputIds);
        assertThat(ints(rs, "attention_mask")).as("attention_mask").isEqualTo(attention);
        assertThat(ints(rs, "position_ids")).as("position_ids").isEqualTo(positions);
        List<Long> mask = longs(e, "response_mask");
        mask.addAll(nCopies(responseLen - n, 0));
        assertThat(ints(rs, "response_mask")).as("response_mask").isEqualTo(mask);
        assertThat(floats(rs, "rollout_log_probs")).isEqualTo(paddedFloats(e, "old_log_probs", responseLen));
        assertThat(floats(rs, "advantages")).isEqualTo(paddedFloats(e, "advantages", responseLen));
        assertThat(floats(rs, "token_level_scores")).isEqualTo(paddedFloats(e, "token_level_scores", responseLen));
        assertThat(floats(rs, "token_level_rewards")).isEqualTo(floats(rs, "token_level_scores"));
        double reward = rs.getDouble("reward");
        assertThat(rs.wasNull()).isEqualTo(e.get("reward").isNull());
        if (!e.get("reward").isNull()) {
          assertThat(reward).isEqualTo(e.get("reward").asDouble());
        }
        assertThat(rs.getString("finish_reason")).isEqualTo(e.get("finish_reason").isNull() ? null
            : e.get("finish_reason").asText());
      }
    }
    assertThat(rows).isEqualTo(6);
    assertThat(compressions(verl)).containsOnly("ZSTD");
  }

  @Test
  void negativePadIdIsRefused() {
    assertThatThrownBy(() -> new VerlExporter(-1)).isInstanceOf(TreeRollException.class).hasMessageContaining("pad id");
  }

  private static List<String> compressions(Path file) throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:");
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT DISTINCT compression FROM parquet_metadata('" + file + "')")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }

  private static List<Long> nCopies(int n, long v) {
    return new ArrayList<>(java.util.Collections.nCopies(n, v));
  }

  private static List<Long> longs(JsonNode row, String col) {
    List<Long> out = new ArrayList<>();
    row.get(col).forEach(v -> out.add(v.asLong()));
    return out;
  }

  private static List<Float> paddedFloats(JsonNode row, String col, int length) {
    List<Float> out = new ArrayList<>();
    row.get(col).forEach(v -> out.add((float) v.asDouble()));
    while (out.size() < length) {
      out.add(0f);
    }
    return out;
  }

  private static List<Long> ints(ResultSet rs, String col) throws Exception {
    return ExportersTest.numbers(rs, col).stream().map(Number::longValue).toList();
  }

  private static List<Float> floats(ResultSet rs, String col) throws Exception {
    return ExportersTest.numbers(rs, col).stream().map(Number::floatValue).toList();
  }
}
