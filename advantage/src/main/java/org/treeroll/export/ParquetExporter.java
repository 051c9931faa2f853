package org.treeroll.export;

import static org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName.BINARY;
import static org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName.DOUBLE;
import static org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName.FLOAT;
import static org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName.INT32;
import static org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName.INT64;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import org.apache.parquet.conf.ParquetConfiguration;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.Types;
import org.treeroll.advantage.BatchAdvantages;
import org.treeroll.tree.AtomicFile;

/**
 * One Parquet row per answer, lists in Parquet's standard three-level LIST layout so pyarrow,
 * pandas, DuckDB and Spark read them as arrays. Written uncompressed (dictionary and RLE encodings
 * still apply): Parquet's compression codecs go through Hadoop's configuration, which this writer
 * keeps off the class path.
 */
public final class ParquetExporter implements Exporter {
  static final MessageType SCHEMA = Types.buildMessage()
      .required(BINARY).as(LogicalTypeAnnotation.stringType()).named(Columns.UID)
      .required(INT32).named(Columns.TREE_ID)
      .required(INT32).named(Columns.LEAF_ID)
      .required(INT64).named(Columns.WEIGHT_VERSION)
      .optional(BINARY).as(LogicalTypeAnnotation.stringType()).named(Columns.POLICY)
      .required(BINARY).as(LogicalTypeAnnotation.stringType()).named(Columns.ESTIMATOR)
      .requiredList().requiredElement(INT32).named(Columns.PROMPTS)
      .requiredList().requiredElement(INT32).named(Columns.RESPONSES)
      .requiredList().requiredElement(INT32).as(LogicalTypeAnnotation.intType(8, true)).named(Columns.RESPONSE_MASK)
      .requiredList().requiredElement(FLOAT).named(Columns.OLD_LOG_PROBS)
      .requiredList().requiredElement(FLOAT).named(Columns.ADVANTAGES)
      .requiredList().requiredElement(FLOAT).named(Columns.TOKEN_LEVEL_SCORES)
      .requiredList().requiredElement(INT32).named(Columns.SEGMENT_ENDS)
      .requiredList().requiredElement(DOUBLE).named(Columns.SEGMENT_ADVANTAGES)
      .requiredList().requiredElement(INT32).named(Columns.NODE_IDS)
      .optional(DOUBLE).named(Columns.REWARD)
      .optional(BINARY).as(LogicalTypeAnnotation.stringType()).named(Columns.REWARD_ERROR)
      .optional(BINARY).as(LogicalTypeAnnotation.stringType()).named(Columns.FINISH_REASON)
      .named("treeroll_path");

  @Override
  public String format() {
    return "parquet";
  }

  @Override
  public void write(Path file, BatchAdvantages batch) {
    List<ExportRow> rows = ExportRow.of(batch);
    AtomicFile.write(file, tmp -> {
      // AtomicFile has created tmp already: overwrite it rather than insist on a new file.
      try (ParquetWriter<ExportRow> w = new Builder(new LocalOutputFile(tmp))
          .withConf(new PlainParquetConfiguration())
          .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
          .withCompressionCodec(CompressionCodecName.UNCOMPRESSED)
          .build()) {
        for (ExportRow r : rows) {
          w.write(r);
        }
      }
    });
  }

  private static final class Builder extends ParquetWriter.Builder<ExportRow, Builder> {
    Builder(OutputFile file) {
      super(file);
    }

    @Override
    protected Builder self() {
      return this;
    }

    @Override
    protected WriteSupport<ExportRow> getWriteSupport(ParquetConfiguration conf) {
      return new RowWriteSupport();
    }

    @Override
    @SuppressWarnings("deprecation")
    protected WriteSupport<ExportRow> getWriteSupport(org.apache.hadoop.conf.Configuration conf) {
      return new RowWriteSupport();
    }
  }

  /** Streams one {@link ExportRow} into Parquet's record events, field by field in schema order. */
  private static final class RowWriteSupport extends WriteSupport<ExportRow> {
    private RecordConsumer out;
    private int field;

    @Override
    public WriteContext init(ParquetConfiguration conf) {
      return new WriteContext(SCHEMA, Map.of());
    }

    @Override
    @SuppressWarnings("deprecation")
    public WriteContext init(org.apache.hadoop.conf.Configuration conf) {
      return new WriteContext(SCHEMA, Map.of());
    }

    @Override
    public void prepareForWrite(RecordConsumer consumer) {
      this.out = consumer;
    }

    @Override
    public void write(ExportRow r) {
      field = 0;
      out.startMessage();
      string(Columns.UID, r.uid());
      value(Columns.TREE_ID, () -> out.addInteger(r.treeId()));
      value(Columns.LEAF_ID, () -> out.addInteger(r.leafId()));
      value(Columns.WEIGHT_VERSION, () -> out.addLong(r.weightVersion()));
      string(Columns.POLICY, r.policy());
      string(Columns.ESTIMATOR, r.estimator());
      list(Columns.PROMPTS, r.prompts().length, i -> out.addInteger(r.prompts()[i]));
      list(Columns.RESPONSES, r.responses().length, i -> out.addInteger(r.responses()[i]));
      list(Columns.RESPONSE_MASK, r.responseMask().length, i -> out.addInteger(r.responseMask()[i]));
      list(Columns.OLD_LOG_PROBS, r.oldLogProbs().length, i -> out.addFloat(r.oldLogProbs()[i]));
      list(Columns.ADVANTAGES, r.advantages().length, i -> out.addFloat(r.advantages()[i]));
      list(Columns.TOKEN_LEVEL_SCORES, r.tokenLevelScores().length, i -> out.addFloat(r.tokenLevelScores()[i]));
      list(Columns.SEGMENT_ENDS, r.segmentEnds().length, i -> out.addInteger(r.segmentEnds()[i]));
      list(Columns.SEGMENT_ADVANTAGES, r.segmentAdvantages().length, i -> out.addDouble(r.segmentAdvantages()[i]));
      list(Columns.NODE_IDS, r.nodeIds().length, i -> out.addInteger(r.nodeIds()[i]));
      if (Double.isNaN(r.reward())) {
        field++; // an optional field left out is null
      } else {
        value(Columns.REWARD, () -> out.addDouble(r.reward()));
      }
      string(Columns.REWARD_ERROR, r.rewardError());
      string(Columns.FINISH_REASON, r.finishReason());
      out.endMessage();
    }

    private void value(String name, Runnable add) {
      out.startField(name, field);
      add.run();
      out.endField(name, field);
      field++;
    }

    private void string(String name, String v) {
      if (v == null) {
        field++;
        return;
      }
      value(name, () -> out.addBinary(Binary.fromString(v)));
    }

    /** A LIST field: group { repeated group list { element } }; an empty list has no "list" field. */
    private void list(String name, int size, IntConsumer element) {
      out.startField(name, field);
      out.startGroup();
      if (size > 0) {
        out.startField("list", 0);
        for (int i = 0; i < size; i++) {
          out.startGroup();
          out.startField("element", 0);
          element.accept(i);
          out.endField("element", 0);
          out.endGroup();
        }
        out.endField("list", 0);
      }
      out.endGroup();
      out.endField(name, field);
      field++;
    }
  }
}
