package org.treeroll.engine.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledOnOs;
import org.junit.jupiter.api.condition.OS;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LargeBuffers}: zeroed native-order buffers either way; on Linux with THP not "never",
 * buffers from 2 MB up are mappings of their own, 2 MB aligned and advised for huge pages (the
 * kernel's {@code hg} flag in {@code /proc/self/smaps}), small ones plain direct buffers.
 */
class LargeBuffersTest {

  @Test
  void buffersAreZeroedNativeOrderAndHoldWhatIsWritten() {
    for (int bytes : new int[] {4096, LargeBuffers.HUGE_PAGE, LargeBuffers.HUGE_PAGE + 12, 3 * LargeBuffers.HUGE_PAGE - 4}) {
      ByteBuffer b = LargeBuffers.allocate(bytes);
      assertThat(b.capacity()).isEqualTo(bytes);
      assertThat(b.isDirect()).isTrue();
      assertThat(b.order()).isEqualTo(ByteOrder.nativeOrder());
      for (int i = 0; i < bytes; i += 509) {
        assertThat(b.get(i)).as("byte %d of %d", i, bytes).isZero();
      }
      b.putFloat(bytes - 4, 1.5f);
      b.putFloat(0, -2f);
      assertThat(b.getFloat(bytes - 4)).isEqualTo(1.5f);
      assertThat(b.getFloat(0)).isEqualTo(-2f);
    }
  }

  @Test
  @EnabledOnOs(OS.LINUX)
  void largeBuffersAreAlignedMappingsAdvisedForHugePages() throws IOException {
    String mode = LargeBuffers.thpMode(LargeBuffers.THP_MODE);
    assertThat(LargeBuffers.hugePages()).isEqualTo(mode != null && !mode.equals("never"));
    ByteBuffer big = LargeBuffers.allocate(3 * LargeBuffers.HUGE_PAGE);
    long at = MemorySegment.ofBuffer(big).address();
    if (LargeBuffers.hugePages()) {
      assertThat(at % LargeBuffers.HUGE_PAGE).isZero();
      assertThat(vmFlags(at)).contains("hg");
      assertThat(LargeBuffers.mappedBytes()).isGreaterThanOrEqualTo(big.capacity());
    } else {
      assertThat(LargeBuffers.mappedBytes()).isZero();
    }
    ByteBuffer small = LargeBuffers.allocate(64 << 10);
    assertThat(vmFlags(MemorySegment.ofBuffer(small).address())).doesNotContain("hg");
  }

  @Test
  void thpModeIsTheBracketedWord(@TempDir Path dir) throws IOException {
    Path enabled = dir.resolve("enabled");
    Files.writeString(enabled, "always [madvise] never\n");
    assertThat(LargeBuffers.thpMode(enabled)).isEqualTo("madvise");
    Files.writeString(enabled, "always madvise [never]\n");
    assertThat(LargeBuffers.thpMode(enabled)).isEqualTo("never");
    Files.writeString(enabled, "garbled\n");
    assertThat(LargeBuffers.thpMode(enabled)).isNull();
    assertThat(LargeBuffers.thpMode(dir.resolve("missing"))).isNull();
  }

  /** The VmFlags words of the mapping holding {@code address}, from /proc/self/smaps. */
  private static List<String> vmFlags(long address) throws IOException {
    boolean inside = false;
    for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
      int dash = line.indexOf('-');
      int space = line.indexOf(' ');
      if (dash > 0 && space > dash && line.substring(0, dash).matches("[0-9a-f]+")) {
        long from = Long.parseUnsignedLong(line.substring(0, dash), 16);
        long to = Long.parseUnsignedLong(line.substring(dash + 1, space), 16);
        inside = address >= from && address < to;
      } else if (inside && line.startsWith("VmFlags:")) {
        return List.of(line.substring("VmFlags:".length()).trim().split(" "));
      }
    }
    throw new AssertionError("no mapping holds 0x" + Long.toHexString(address));
  }
}
