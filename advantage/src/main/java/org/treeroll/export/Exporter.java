package org.treeroll.export;

import java.nio.file.Path;
import org.treeroll.advantage.BatchAdvantages;

/**
 * Writes one row per answer of a batch ({@link ExportRow}) to a file, atomically: readers see the
 * previous file or the complete new one.
 */
public interface Exporter {
  /** Short name of the format, also the usual file extension: {@code jsonl}, {@code parquet}. */
  String format();

  void write(Path file, BatchAdvantages batch);

  /** The exporter for a format name. */
  static Exporter forFormat(String format) {
    return switch (format == null ? "" : format.strip().toLowerCase(java.util.Locale.ROOT)) {
      case "jsonl" -> new JsonlExporter();
      case "parquet" -> new ParquetExporter();
      default -> throw new org.treeroll.tree.TreeRollException("export format '" + format + "' is unknown; valid: jsonl, parquet");
    };
  }
}
