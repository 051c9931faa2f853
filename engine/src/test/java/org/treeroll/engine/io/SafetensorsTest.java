package org.treeroll.engine.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.TreeRollException;

class SafetensorsTest {
  @TempDir Path dir;

  private static final NamedTensor A = new NamedTensor("a.weight", new long[] {2, 3},
      new float[] {1.5f, -2f, 0f, 65504f, 0.1f, -3.25e-3f});
  private static final NamedTensor B = new NamedTensor("b.bias", new long[] {4},
      new float[] {1f, 2f, 3f, (float) Math.PI});

  @Test
  void f32RoundTripIsExactAndKeepsMetadata() {
    Path f = dir.resolve("model.safetensors");
    SafetensorsWriter.write(f, List.of(A, B), DType.F32, Map.of("format", "pt"));
    try (SafetensorsFile s = SafetensorsFile.open(f)) {
      assertThat(s.tensors()).containsOnlyKeys("a.weight", "b.bias");
      assertThat(s.tensors().get("a.weight").shape()).containsExactly(2, 3);
      assertThat(s.readFloats("a.weight")).containsExactly(A.data());
      assertThat(s.readFloats("b.bias")).containsExactly(B.data());
      assertThat(s.metadata()).containsEntry("format", "pt");
    }
  }

  @Test
  void halfPrecisionRoundTripsWithinTheFormatsPrecision() {
    for (DType t : List.of(DType.F16, DType.BF16)) {
      Path f = dir.resolve(t + ".safetensors");
      SafetensorsWriter.write(f, List.of(A, B), t, Map.of());
      try (SafetensorsFile s = SafetensorsFile.open(f)) {
        assertThat(s.tensors().get("b.bias").dtype()).isEqualTo(t);
        float[] a = s.readFloats("a.weight");
        // 1.5, -2 and 0 are exact in both formats.
        assertThat(a[0]).isEqualTo(1.5f);
        assertThat(a[1]).isEqualTo(-2f);
        assertThat(a[2]).isEqualTo(0f);
        // Relative error of a half-precision rounding: 2^-11 for F16, 2^-8 for BF16.
        double eps = t == DType.F16 ? 1.0 / 2048 : 1.0 / 256;
        float[] b = s.readFloats("b.bias");
        assertThat(Math.abs(b[3] - Math.PI) / Math.PI).isLessThanOrEqualTo(eps);
      }
    }
    try (SafetensorsFile s = SafetensorsFile.open(dir.resolve("F16.safetensors"))) {
      assertThat(s.readFloats("a.weight")[3]).isEqualTo(65504f); // F16's largest finite value
    }
  }

  @Test
  void bf16RoundsToNearestEven() {
    // 1 + 2^-8 lies exactly between BF16 neighbours 1 and 1 + 2^-7: ties go to the even one, 1.
    assertThat(DType.toBf16(1f + 1f / 256)).isEqualTo((short) 0x3F80);
    // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd mantissa) and 1 + 2^-6 (even): rounds up to 0x3F82.
    assertThat(DType.toBf16(1f + 3f / 256)).isEqualTo((short) 0x3F82);
    // Just above the tie rounds up.
    assertThat(DType.toBf16(Math.nextUp(1f + 1f / 256))).isEqualTo((short) 0x3F81);
    assertThat(Float.isNaN(Float.intBitsToFloat(DType.toBf16(Float.NaN) << 16))).isTrue();
  }

  @Test
  void shardedDirectoryReadsEveryShardThroughTheIndex() throws Exception {
    SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), List.of(A), DType.F32, Map.of());
    SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), List.of(B), DType.BF16, Map.of());
    Files.writeString(dir.resolve("model.safetensors.index.json"), """
        {"metadata": {"total_size": 40}, "weight_map": {
          "a.weight": "model-00001-of-00002.safetensors",
          "b.bias": "model-00002-of-00002.safetensors"}}""");
    try (WeightSource w = WeightSource.open(dir)) {
      assertThat(w.names()).containsExactlyInAnyOrder("a.weight", "b.bias");
      assertThat(w.read("a.weight", 2, 3)).containsExactly(A.data());
      assertThat(w.read("b.bias", 4)[0]).isEqualTo(1f);
      assertThatThrownBy(() -> w.read("a.weight", 3, 2)).isInstanceOf(TreeRollException.class)
          .hasMessageContaining("model-00001-of-00002.safetensors")
          .hasMessageContaining("'a.weight' has shape [2, 3], expected [3, 2]");
      assertThatThrownBy(() -> w.read("c.weight", 1)).isInstanceOf(TreeRollException.class)
          .hasMessageContaining("model.safetensors.index.json").hasMessageContaining("'c.weight' not found");
    }
  }

  @Test
  void indexNamingAMissingShardOrTensorIsRefused() throws Exception {
    SafetensorsWriter.write(dir.resolve("s1.safetensors"), List.of(A), DType.F32, Map.of());
    Files.writeString(dir.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"a.weight\": \"s1.safetensors\", \"b.bias\": \"s2.safetensors\"}}");
    assertThatThrownBy(() -> WeightSource.open(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("'b.bias'").hasMessageContaining("s2.safetensors");
    Files.writeString(dir.resolve("model.safetensors.index.json"),
        "{\"weight_map\": {\"b.bias\": \"s1.safetensors\"}}");
    assertThatThrownBy(() -> WeightSource.open(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("'b.bias'").hasMessageContaining("does not contain it");
  }

  @Test
  void missingFilesAreNamed() {
    assertThatThrownBy(() -> WeightSource.open(dir)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("no model.safetensors or model.safetensors.index.json");
    assertThatThrownBy(() -> SafetensorsFile.open(dir.resolve("x.safetensors")))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("x.safetensors: file not found");
  }

  @Test
  void truncatedFileNamesTheTensorCut() throws Exception {
    Path f = dir.resolve("t.safetensors");
    SafetensorsWriter.write(f, List.of(A, B), DType.F32, Map.of());
    try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
      r.setLength(r.length() - 4);
    }
    assertThatThrownBy(() -> SafetensorsFile.open(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("t.safetensors").hasMessageContaining("'b.bias'").hasMessageContaining("truncated");
    Files.write(f, new byte[] {1, 2, 3});
    assertThatThrownBy(() -> SafetensorsFile.open(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("too short");
  }

  @Test
  void headersThatLieAreRefused() throws Exception {
    assertRefused("{\"w\": {\"dtype\": \"F32\", \"shape\": [4, 8], \"data_offsets\": [0, 100]}}", 128,
        "'w'", "span 100 bytes but shape [4, 8] F32 needs 128");
    assertRefused("{\"w\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 16,
        "'w'", "dtype I64");
    assertRefused("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 16,
        "'w'", "data_offsets [8, 0]");
    assertRefused("{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 16,
        "'w'", "invalid dimension");
    assertRefused("{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 16, "'w'", "data_offsets");
    assertRefused("{\"u\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
        + " \"v\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16, "'u'", "overlap");
    assertRefused("[1, 2]", 0, "not a JSON object");
    assertRefused("{oops", 0, "not valid JSON");
  }

  @Test
  void headerLengthBeyondTheFileIsRefused() throws Exception {
    Path f = dir.resolve("h.safetensors");
    ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1_000_000);
    Files.write(f, b.array());
    assertThatThrownBy(() -> SafetensorsFile.open(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("h.safetensors").hasMessageContaining("header length 1000000");
  }

  private void assertRefused(String header, int dataBytes, String... fragments) throws Exception {
    Path f = dir.resolve("bad.safetensors");
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h);
    Files.write(f, b.array());
    var assertion = assertThatThrownBy(() -> SafetensorsFile.open(f)).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("bad.safetensors");
    for (String s : fragments) {
      assertion.hasMessageContaining(s);
    }
  }
}
