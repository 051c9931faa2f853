package org.treeroll.engine.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.treeroll.tree.TreeRollException;

/** Building a {@link WeightUpdate} from memory and from files; the model-side checks live in runtime. */
class WeightUpdateSourcesTest {
  @TempDir Path dir;

  private static final NamedTensor A = new NamedTensor("a.weight", new long[] {2, 3},
      new float[] {1.5f, -2f, 0f, 65504f, 1f + 3f / 256, -3.25e-3f});
  private static final NamedTensor B = new NamedTensor("b.bias", new long[] {4}, new float[] {1f, 2f, 3f, 4f});

  @Test
  void inMemoryTensorsDecodeToFp32InTheirDtype() {
    WeightUpdate u = WeightUpdate.fromTensors(List.of(
        UpdateTensor.f32(A.name(), A.shape(), A.data()),
        UpdateTensor.encode(B.name(), DType.BF16, B.shape(), B.data()),
        UpdateTensor.encode("c", DType.BF16, new long[] {1}, new float[] {1f + 3f / 256}),
        UpdateTensor.encode("d", DType.F16, new long[] {1}, new float[] {65504f})));
    assertThat(u.names()).containsExactly("a.weight", "b.bias", "c", "d");
    assertThat(u.readFloats("a.weight")).containsExactly(A.data());
    assertThat(u.readFloats("b.bias")).containsExactly(B.data());
    assertThat(u.readFloats("c")).containsExactly(1f + 4f / 256); // BF16 keeps 7 mantissa bits: ties to even
    assertThat(u.readFloats("d")).containsExactly(65504f);
    assertThat(u.dtype("b.bias")).isEqualTo(DType.BF16);
    assertThat(u.shape("a.weight")).containsExactly(2, 3);
    assertThat(u.bytes()).isEqualTo(6 * 4 + 4 * 2 + 2 + 2);
  }

  @Test
  void inMemoryTensorIsACopyAndReadOnly() {
    ByteBuffer bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(1f).putFloat(2f).flip();
    long[] shape = {2};
    UpdateTensor t = new UpdateTensor("w", DType.F32, shape, bytes);
    bytes.putFloat(0, 99f);
    shape[0] = 7;
    t.shape()[0] = 5;
    assertThat(t.shape()).containsExactly(2);
    assertThat(WeightUpdate.fromTensors(List.of(t)).readFloats("w")).containsExactly(1f, 2f);
    assertThatThrownBy(() -> t.data().putFloat(0, 3f)).isInstanceOf(ReadOnlyBufferException.class);
  }

  @Test
  void bytesThatDoNotMatchTheShapeAreRefused() {
    assertThatThrownBy(() -> new UpdateTensor("w", DType.BF16, new long[] {2, 3}, ByteBuffer.allocate(10)))
        .isInstanceOf(TreeRollException.class)
        .hasMessage("weight update: tensor 'w': shape [2, 3] BF16 needs 12 bytes, got 10");
    assertThatThrownBy(() -> new UpdateTensor("w", null, new long[] {1}, ByteBuffer.allocate(4)))
        .isInstanceOf(TreeRollException.class).hasMessage("weight update: tensor 'w' has no dtype; use F32, BF16 or F16");
    assertThatThrownBy(() -> new UpdateTensor("w", DType.F32, new long[] {-1}, ByteBuffer.allocate(4)))
        .isInstanceOf(TreeRollException.class).hasMessageContaining("negative dimension");
  }

  @Test
  void safetensorsFilesAreReadWhenATensorIsAsked() {
    Path f1 = dir.resolve("one.safetensors");
    Path f2 = dir.resolve("two.safetensors");
    SafetensorsWriter.write(f1, List.of(A), DType.F32, Map.of());
    SafetensorsWriter.write(f2, List.of(B), DType.F16, Map.of());
    WeightUpdate u = WeightUpdate.fromSafetensors(List.of(f1, f2));
    assertThat(u.names()).containsExactly("a.weight", "b.bias");
    assertThat(u.dtype("b.bias")).isEqualTo(DType.F16);
    assertThat(u.bytes()).isEqualTo(6 * 4 + 4 * 2);
    assertThat(u.readFloats("a.weight")).containsExactly(A.data());
    assertThat(u.readFloats("b.bias")).containsExactly(B.data()); // small integers are exact in F16
  }

  @Test
  void aTensorInTwoFilesIsRefused() {
    Path f1 = dir.resolve("one.safetensors");
    Path f2 = dir.resolve("two.safetensors");
    SafetensorsWriter.write(f1, List.of(A, B), DType.F32, Map.of());
    SafetensorsWriter.write(f2, List.of(B), DType.F32, Map.of());
    assertThatThrownBy(() -> WeightUpdate.fromSafetensors(List.of(f1, f2))).isInstanceOf(TreeRollException.class)
        .hasMessage("weight update: tensor 'b.bias' is in both " + f1 + " and " + f2 + "; send each tensor once");
  }

  @Test
  void missingFilesAreNamed() {
    assertThatThrownBy(() -> WeightUpdate.fromDirectory(dir)).isInstanceOf(TreeRollException.class)
        .hasMessage("weight update: " + dir + ": no model.safetensors or model.safetensors.index.json");
    Path missing = dir.resolve("x.safetensors");
    assertThatThrownBy(() -> WeightUpdate.fromSafetensors(List.of(missing))).isInstanceOf(TreeRollException.class)
        .hasMessage("weight update: " + missing + ": file not found");
    assertThatThrownBy(() -> WeightUpdate.fromSafetensors(List.of())).isInstanceOf(TreeRollException.class)
        .hasMessageContaining("no tensors");
  }

  @Test
  void askingForATensorNotInTheUpdateIsAnError() {
    WeightUpdate u = WeightUpdate.fromTensors(List.of(UpdateTensor.f32(B.name(), B.shape(), B.data())));
    assertThatThrownBy(() -> u.readFloats("a.weight")).isInstanceOf(TreeRollException.class)
        .hasMessage("weight update: no tensor 'a.weight' in this update");
  }
}
