package org.treeroll.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.treeroll.tree.TreeRollException;

/**
 * Prompts in verl's dataset layout, from JSONL or Parquet: each row has {@code prompt} (chat
 * messages {@code [{"role", "content"}]}, or a plain string), and optionally {@code data_source}
 * and {@code reward_model.ground_truth}. Parquet is read through DuckDB, which turns each row into
 * the same JSON a JSONL line holds, so both formats take one path.
 */
final class PromptDataset {
  private static final ObjectMapper JSON = new ObjectMapper();

  private PromptDataset() {}

  /** One chat message. */
  record Message(String role, String content) {}

  /**
   * One row.
   *
   * @param index the row's position in the file (0-based): its identity across reruns
   * @param text the prompt when it is a plain string, else null
   * @param messages the prompt when it is chat messages, else null
   * @param groundTruth {@code reward_model.ground_truth}, or null
   */
  record Row(int index, String text, List<Message> messages, String dataSource, String groundTruth) {}

  static List<Row> read(Path file) {
    String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
    List<JsonNode> rows = name.endsWith(".parquet") ? parquet(file) : jsonl(file);
    if (rows.isEmpty()) {
      throw new TreeRollException(file + ": no rows");
    }
    List<Row> out = new ArrayList<>();
    for (int i = 0; i < rows.size(); i++) {
      out.add(row(rows.get(i), i, file + " row " + i));
    }
    return out;
  }

  private static List<JsonNode> jsonl(Path file) {
    List<JsonNode> rows = new ArrayList<>();
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int lineNo = 0;
      while ((line = r.readLine()) != null) {
        lineNo++;
        if (!line.isBlank()) {
          try {
            rows.add(JSON.readTree(line));
          } catch (IOException e) {
            throw new TreeRollException(file + ":" + lineNo + ": not valid JSON");
          }
        }
      }
    } catch (NoSuchFileException e) {
      throw new TreeRollException(file + ": file not found");
    } catch (IOException e) {
      throw new TreeRollException(file + ": cannot read: " + e.getMessage(), e);
    }
    return rows;
  }

  private static List<JsonNode> parquet(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new TreeRollException(file + ": file not found");
    }
    List<JsonNode> rows = new ArrayList<>();
    try (Connection db = DriverManager.getConnection("jdbc:duckdb:");
        PreparedStatement q = db.prepareStatement("SELECT to_json(t) FROM read_parquet(?) t")) {
      q.setString(1, file.toString());
      try (ResultSet rs = q.executeQuery()) {
        while (rs.next()) {
          rows.add(JSON.readTree(rs.getString(1)));
        }
      }
    } catch (SQLException e) {
      throw new TreeRollException(file + ": cannot read as Parquet: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new TreeRollException(file + ": a row did not convert to JSON: " + e.getMessage(), e);
    }
    return rows;
  }

  private static Row row(JsonNode r, int index, String where) {
    if (!r.isObject()) {
      throw new TreeRollException(where + ": expected an object with a prompt");
    }
    JsonNode p = r.get("prompt");
    String text = null;
    List<Message> messages = null;
    if (p != null && p.isTextual() && !p.asText().isEmpty()) {
      text = p.asText();
    } else if (p != null && p.isArray() && !p.isEmpty()) {
      messages = new ArrayList<>();
      for (int i = 0; i < p.size(); i++) {
        JsonNode m = p.get(i);
        if (!m.isObject() || !m.path("role").isTextual() || !m.path("content").isTextual()) {
          throw new TreeRollException(where + ": prompt[" + i + "] must be {\"role\": string, \"content\": string}");
        }
        messages.add(new Message(m.get("role").asText(), m.get("content").asText()));
      }
    } else {
      throw new TreeRollException(where + ": prompt must be a non-empty string or a non-empty list of chat messages");
    }
    JsonNode truth = r.path("reward_model").path("ground_truth");
    String groundTruth = truth.isMissingNode() || truth.isNull() ? null : truth.isTextual() ? truth.asText() : truth.toString();
    JsonNode source = r.get("data_source");
    return new Row(index, text, messages, source == null || source.isNull() ? null : source.asText(), groundTruth);
  }
}
