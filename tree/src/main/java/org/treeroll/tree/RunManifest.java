package org.treeroll.tree;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * The last file a run writes into its output folder ({@value #FILE}): every file of the run with
 * its size and SHA-256, and the run's id, seed and weight version. Each file is replaced
 * atomically, but a run writes several; a reader that finds the manifest and every file matching
 * it knows they are one finished run, and anything else is an interrupted or mixed one.
 */
public record RunManifest(String runId, long seed, long weightVersion, List<Entry> files) {
  public static final String FILE = "manifest.json";
  public static final String FORMAT = "treeroll.run";
  /**
   * The run's settings and id, the first file a run writes: found with a manifest of another run
   * id, or with none, it says a run started in the folder and did not finish.
   */
  public static final String SETTINGS = "run.json";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public record Entry(String name, long size, String sha256) {}

  public RunManifest {
    files = List.copyOf(files);
  }

  public static String newRunId() {
    return UUID.randomUUID().toString();
  }

  /** The manifest of {@code names} (files in {@code dir}) as they are now on disk. */
  public static RunManifest of(Path dir, String runId, long seed, long weightVersion, List<String> names) {
    List<Entry> entries = new ArrayList<>();
    for (String n : names) {
      Path f = dir.resolve(n);
      try {
        entries.add(new Entry(n, Files.size(f), sha256(f)));
      } catch (IOException e) {
        throw new TreeRollException(f + ": cannot read it for the run manifest: " + e.getMessage(), e);
      }
    }
    return new RunManifest(runId, seed, weightVersion, entries);
  }

  /** Writes {@value #FILE} into {@code dir}, atomically: call it after every other file is in place. */
  public void write(Path dir) {
    ObjectNode o = JSON.createObjectNode();
    o.put("format", FORMAT);
    o.put("run_id", runId);
    o.put("seed", seed);
    o.put("weight_version", weightVersion);
    ArrayNode a = o.putArray("files");
    for (Entry e : files) {
      a.addObject().put("name", e.name()).put("size", e.size()).put("sha256", e.sha256());
    }
    AtomicFile.write(dir.resolve(FILE), tmp -> Files.writeString(tmp, JSON.writeValueAsString(o)));
  }

  /** The manifest in {@code dir}, if there is one. */
  public static Optional<RunManifest> read(Path dir) {
    Path f = dir.resolve(FILE);
    if (!Files.isRegularFile(f)) {
      return Optional.empty();
    }
    try {
      JsonNode o = JSON.readTree(f.toFile());
      if (o == null || !FORMAT.equals(o.path("format").asText())) {
        throw new TreeRollException(f + ": not a run manifest (format must be '" + FORMAT + "')");
      }
      List<Entry> entries = new ArrayList<>();
      for (JsonNode e : o.path("files")) {
        entries.add(new Entry(e.path("name").asText(), e.path("size").asLong(), e.path("sha256").asText()));
      }
      return Optional.of(new RunManifest(o.path("run_id").asText(), o.path("seed").asLong(),
          o.path("weight_version").asLong(), entries));
    } catch (IOException e) {
      throw new TreeRollException(f + ": cannot read the run manifest: " + e.getMessage(), e);
    }
  }

  /**
   * What is wrong with {@code dir} against this manifest: files missing, or differing in size or
   * checksum (a later run rewrote them, or this one was interrupted). Empty when the run is whole.
   */
  public List<String> problems(Path dir) {
    List<String> out = new ArrayList<>();
    for (Entry e : files) {
      Path f = dir.resolve(e.name());
      try {
        if (!Files.isRegularFile(f)) {
          out.add(e.name() + " is missing");
        } else if (Files.size(f) != e.size()) {
          out.add(e.name() + " has " + Files.size(f) + " bytes, the manifest says " + e.size());
        } else if (!sha256(f).equals(e.sha256())) {
          out.add(e.name() + " differs from its SHA-256 in the manifest");
        }
      } catch (IOException x) {
        out.add(e.name() + " cannot be read: " + x.getMessage());
      }
    }
    return out;
  }

  /** The run id in {@value #SETTINGS} in {@code dir}, if that file is there and has one. */
  public static Optional<String> startedRun(Path dir) {
    Path f = dir.resolve(SETTINGS);
    if (!Files.isRegularFile(f)) {
      return Optional.empty();
    }
    try {
      String id = JSON.readTree(f.toFile()).path("run_id").asText("");
      return id.isEmpty() ? Optional.empty() : Optional.of(id);
    } catch (IOException e) {
      throw new TreeRollException(f + ": cannot read the run's settings: " + e.getMessage(), e);
    }
  }

  public boolean lists(String name) {
    return files.stream().anyMatch(e -> e.name().equals(name));
  }

  static String sha256(Path f) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e); // every JDK has it
    }
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(f)) {
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }
}
