package org.treeroll.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A tokenizer.json through DJL's binding of the Rust tokenizers, for what {@link ByteLevelBpe}
 * does not read (SentencePiece-style BPE, WordPiece, other normalizers). DJL's defaults suit BERT
 * (truncate at 512, pad, add [CLS]/[SEP]), so truncation, padding and added special tokens are off.
 */
final class RustTokenizer implements TokenCodec {
  private final HuggingFaceTokenizer hf;

  RustTokenizer(Path file) throws IOException {
    if (System.getProperty("OPT_OUT_TRACKING") == null) {
      System.setProperty("OPT_OUT_TRACKING", "true"); // no usage report over the network
    }
    this.hf = HuggingFaceTokenizer.builder()
        .optTokenizerPath(file)
        .optAddSpecialTokens(false)
        .optTruncation(false)
        .optPadding(false)
        .build();
  }

  @Override
  public int[] encode(String text, boolean withPostProcessor) {
    long[] ids = hf.encode(text, withPostProcessor, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  @Override
  public String decode(int[] ids, boolean skipSpecialTokens) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return hf.decode(l, skipSpecialTokens);
  }

  @Override
  public void close() {
    hf.close();
  }
}
