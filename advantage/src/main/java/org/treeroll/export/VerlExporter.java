package org.treeroll.export;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.List;
import org.duckdb.DuckDBAppender;
import org.duckdb.DuckDBConnection;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.TreeRollException;

/**
 * The batch as the tensors of verl's actor update, one Parquet row per answer: prompts left-padded
 * and responses right-padded to the batch's longest, so every list column of a row has the same
 * length across rows and stacks into a {@code [batch, length]} tensor. Written zstd-compressed
 * through DuckDB (parquet-java's codecs need Hadoop at run time).
 */
public final class VerlExporter implements Exporter {
  private final int padId;

  /** @param padId the token id padding is written with: the tokenizer's pad token (verl's {@code pad_token_id}) */
  public VerlExporter(int padId) {
    if (padId < 0) {
      throw new TreeRollException("verl export: pad id " + padId + " is negative (the tokenizer has no pad or eos token)");
    }
    this.padId = padId;
  }

  @Override
  public String format() {
    return "verl";
  }

  @Override
  public void write(Path file, BatchAdvantages batch) {
    List<ExportRow> rows = ExportRow.of(batch);
    int promptLen = rows.stream().mapToInt(r -> r.prompts().length).max().orElse(0);
    int responseLen = rows.stream().mapToInt(r -> r.responses().length).max().orElse(0);
    AtomicFile.write(file, tmp -> {
      try (Connection c = DriverManager.getConnection("jdbc:duckdb:"); Statement s = c.createStatement()) {
        s.execute("CREATE TABLE t (" + Columns.UID + " VARCHAR, " + Columns.TREE_ID + " INTEGER, " + Columns.LEAF_ID
            + " INTEGER, " + Columns.WEIGHT_VERSION + " BIGINT, " + Columns.ESTIMATOR + " VARCHAR, "
            + Columns.REWARD + " DOUBLE, " + Columns.FINISH_REASON + " VARCHAR, "
            + String.join(" INTEGER[], ", Columns.INPUT_IDS, Columns.ATTENTION_MASK, Columns.POSITION_IDS,
                Columns.PROMPTS, Columns.RESPONSES, Columns.RESPONSE_MASK) + " INTEGER[], "
            + String.join(" FLOAT[], ", Columns.ROLLOUT_LOG_PROBS, Columns.TOKEN_LEVEL_SCORES,
                Columns.TOKEN_LEVEL_REWARDS, Columns.ADVANTAGES) + " FLOAT[])");
        try (DuckDBAppender a = c.unwrap(DuckDBConnection.class).createAppender("t")) {
          for (ExportRow r : rows) {
            append(a, r, promptLen, responseLen);
          }
        }
        // COPY replaces the empty file AtomicFile created.
        s.execute("COPY t TO '" + tmp.toString().replace("'", "''") + "' (FORMAT parquet, COMPRESSION zstd)");
      } catch (SQLException e) {
        throw new TreeRollException(file + ": cannot write the verl export: " + e.getMessage(), e);
      }
    });
  }

  private void append(DuckDBAppender a, ExportRow r, int promptLen, int responseLen) throws SQLException {
    int lead = promptLen - r.prompts().length;
    int n = r.responses().length;
    int[] prompts = new int[promptLen];
    Arrays.fill(prompts, 0, lead, padId);
    System.arraycopy(r.prompts(), 0, prompts, lead, r.prompts().length);
    int[] responses = Arrays.copyOf(r.responses(), responseLen);
    Arrays.fill(responses, n, responseLen, padId);
    int[] inputIds = Arrays.copyOf(prompts, promptLen + responseLen);
    System.arraycopy(responses, 0, inputIds, promptLen, responseLen);
    int[] attention = new int[promptLen + responseLen];
    Arrays.fill(attention, lead, promptLen + n, 1);
    // verl's compute_position_id_with_mask: cumsum(attention_mask) - 1, clipped at 0.
    int[] positions = new int[attention.length];
    int seen = 0;
    for (int i = 0; i < attention.length; i++) {
      seen += attention[i];
      positions[i] = Math.max(0, seen - 1);
    }
    int[] mask = new int[responseLen];
    for (int i = 0; i < n; i++) {
      mask[i] = r.responseMask()[i];
    }
    float[] scores = Arrays.copyOf(r.tokenLevelScores(), responseLen);
    a.beginRow()
        .append(r.uid()).append(r.treeId()).append(r.leafId()).append(r.weightVersion()).append(r.estimator());
    if (Double.isNaN(r.reward())) {
      a.appendNull();
    } else {
      a.append(r.reward());
    }
    a.append(r.finishReason())
        .append(inputIds).append(attention).append(positions).append(prompts).append(responses).append(mask)
        .append(Arrays.copyOf(r.oldLogProbs(), responseLen))
        .append(scores)
        .append(scores) // no KL penalty in the reward: verl's token_level_rewards equal the scores
        .append(Arrays.copyOf(r.advantages(), responseLen))
        .endRow();
  }
}
