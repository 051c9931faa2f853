package org.treeroll.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.RolloutTree;
import org.treeroll.tree.TreeDump;

/** {@code treeroll rollout} over verl-layout datasets: parts, resume, Parquet input, refusals. */
class RolloutCommandTest {
  static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path tmp;

  static final String MODEL = Path.of(System.getProperty("treeroll.models.dir", "../models"), "treeroll-arith")
      .toAbsolutePath().normalize().toString();
  static final String[] SHAPE = {"--model", MODEL, "--leaves", "3", "--segment", "8", "--depth", "12"};

  private Path jsonl(String... lines) throws Exception {
    Path f = tmp.resolve("prompts.jsonl");
    Files.write(f, List.of(lines));
    return f;
  }

  private static String row(String prompt, String truth) {
    return "{\"data_source\": \"arith\", \"prompt\": \"" + prompt + "\", \"reward_model\": {\"style\": \"rule\","
        + " \"ground_truth\": \"" + truth + "\"}}";
  }

  private static CliRun run(Path prompts, Path out, String... extra) {
    List<String> args = new ArrayList<>(List.of("rollout", "--prompts", prompts.toString(), "--out", out.toString()));
    args.addAll(List.of(SHAPE));
    args.addAll(List.of(extra));
    if (!args.contains("--batch")) {
      args.addAll(List.of("--batch", "2"));
    }
    return CliRun.of(args.toArray(String[]::new));
  }

  @Test
  void writesPartsWithTreesAndTrainerRowsAndResumes() throws Exception {
    Path prompts = jsonl(row("Q: 2+3=?\\n", "5"), row("Q: 7*8=?\\n", "56"), row("Q: 9-4=?\\n", "5"));
    Path out = tmp.resolve("out");
    CliRun first = run(prompts, out);
    assertThat(first.code()).as(first.err()).isZero();
    assertThat(first.out()).contains("wrote 2 parts", "(0 already there)");
    // Rows 0-1 in part 0, row 2 in part 1; tree ids are row indices, so groups never collide.
    List<RolloutTree> part0 = TreeDump.read(out.resolve("part-00000.trees.jsonl"));
    List<RolloutTree> part1 = TreeDump.read(out.resolve("part-00001.trees.jsonl"));
    assertThat(part0).extracting(RolloutTree::id).containsExactly(0, 1);
    assertThat(part1).extracting(RolloutTree::id).containsExactly(2);
    List<JsonNode> rows = new ArrayList<>();
    for (String l : Files.readAllLines(out.resolve("part-00001.train.jsonl"))) {
      rows.add(JSON.readTree(l));
    }
    assertThat(rows).hasSize(3).allSatisfy(r -> {
      assertThat(r.get("tree_id").asInt()).isEqualTo(2);
      assertThat(r.get("advantages").size()).isEqualTo(r.get("responses").size());
      assertThat(r.get("reward").isNumber()).isTrue();
    });
    assertThat(out.resolve("part-00001.train.parquet")).isRegularFile();

    // A killed run lost its last part: the rerun writes it again and skips the rest.
    Files.delete(out.resolve("part-00001.train.parquet"));
    long before = Files.getLastModifiedTime(out.resolve("part-00000.trees.jsonl")).toMillis();
    CliRun again = run(prompts, out);
    assertThat(again.code()).as(again.err()).isZero();
    assertThat(again.out()).contains("wrote 1 parts", "(1 already there)");
    assertThat(Files.getLastModifiedTime(out.resolve("part-00000.trees.jsonl")).toMillis()).isEqualTo(before);
    // Row 2's tree is seeded from (seed, 2): the same tree again.
    assertThat(TreeDump.read(out.resolve("part-00001.trees.jsonl")).get(0).leaves().get(0).tokens())
        .isEqualTo(part1.get(0).leaves().get(0).tokens());

    run(prompts, out, "--seed", "9").assertOneLineError("seed = 0, not 9", "same settings");
  }

  @Test
  void chatMessagePromptsGoThroughTheModelsChatTemplate() throws Exception {
    // The bundled model has no template: each message's content on its own line.
    Path prompts = jsonl("{\"prompt\": [{\"role\": \"user\", \"content\": \"Q: 4+4=?\"}],"
        + " \"reward_model\": {\"ground_truth\": \"8\"}}");
    Path out = tmp.resolve("chat");
    CliRun r = run(prompts, out);
    assertThat(r.code()).as(r.err()).isZero();
    int[] prompt = TreeDump.read(out.resolve("part-00000.trees.jsonl")).get(0).prompt();
    assertThat(new String(toBytes(prompt), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("Q: 4+4=?\n");
  }

  /** The bundled model's byte-level ids below 256 are the bytes themselves. */
  private static byte[] toBytes(int[] ids) {
    byte[] b = new byte[ids.length];
    for (int i = 0; i < ids.length; i++) {
      assertThat(ids[i]).isLessThan(256);
      b[i] = (byte) ids[i];
    }
    return b;
  }

  @Test
  void readsParquetInVerlsLayout() throws Exception {
    Path parquet = tmp.resolve("prompts.parquet");
    try (Connection db = DriverManager.getConnection("jdbc:duckdb:"); Statement s = db.createStatement()) {
      s.execute("COPY (SELECT 'arith' AS data_source, 'Q: ' || i || '+1=?\n' AS prompt,"
          + " {'style': 'rule', 'ground_truth': CAST(i + 1 AS VARCHAR)} AS reward_model FROM range(3) t(i))"
          + " TO '" + parquet + "' (FORMAT PARQUET)");
    }
    Path out = tmp.resolve("pq");
    CliRun r = run(parquet, out);
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(TreeDump.read(out.resolve("part-00000.trees.jsonl")).get(0).prompt()).isNotEmpty();
    assertThat(Files.readAllLines(out.resolve("part-00001.train.jsonl"))).hasSize(3);
  }

  @Test
  void badDatasetsAreRefusedNamingTheRow() throws Exception {
    run(jsonl(row("Q: 1+1=?\\n", "2"), "{\"prompt\": 5}"), tmp.resolve("a"))
        .assertOneLineError("row 1", "prompt must be");
    run(jsonl("not json"), tmp.resolve("b")).assertOneLineError("prompts.jsonl:1", "not valid JSON");
    run(tmp.resolve("missing.jsonl"), tmp.resolve("c")).assertOneLineError("file not found");
    run(jsonl(row("x", "1")), tmp.resolve("d"), "--batch", "0").assertOneLineError("--batch must be in [1, 65536]");
  }
}
