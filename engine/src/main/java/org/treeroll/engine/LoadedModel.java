package org.treeroll.engine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.treeroll.engine.io.WeightSource;
import org.treeroll.engine.model.ModelConfig;
import org.treeroll.engine.runtime.DjlRuntime;
import org.treeroll.engine.runtime.LlamaDecoder;
import org.treeroll.engine.runtime.Model;
import org.treeroll.engine.runtime.NativeHeap;
import org.treeroll.engine.runtime.WeightPrecision;
import org.treeroll.engine.tokenizer.TextTokenizer;
import org.treeroll.tree.TreeRollException;

/** A HF model directory loaded for inference: config, weights on the device, tokenizer. */
public final class LoadedModel implements AutoCloseable {
  private final Path dir;
  private final Model model;
  private final TextTokenizer tokenizer;
  private final int[] eosIds;

  private LoadedModel(Path dir, Model model, TextTokenizer tokenizer, int[] eosIds) {
    this.dir = dir;
    this.model = model;
    this.tokenizer = tokenizer;
    this.eosIds = eosIds;
  }

  /** Opens {@code dir} with its 16-bit matrices kept as stored where the kernels allow it. */
  public static LoadedModel open(Path dir) {
    return open(dir, WeightPrecision.AS_STORED);
  }

  public static LoadedModel open(Path dir, WeightPrecision precision) {
    if (!Files.isDirectory(dir)) {
      throw new TreeRollException(dir + ": model directory not found");
    }
    ModelConfig cfg = ModelConfig.read(dir);
    TextTokenizer tokenizer = TextTokenizer.load(dir);
    try (WeightSource weights = WeightSource.open(dir)) {
      LlamaDecoder model = LlamaDecoder.load(cfg, weights, DjlRuntime.device(), precision);
      // Loading passed each tensor through the heap once, the tokenizer parsed its JSON in C
      // memory, and the kernels' warm-up boxes every vector op until C2 compiles them (its garbage
      // grew the 0.5B and 3B models' heaps by 0.4-1.3 GB, kept until the next full GC): hand all of it back now, so
      // that the process stays about the size of its weights (the launcher's G1 uncommits on a
      // full GC; glibc keeps freed memory until trimmed). The first step would wait for the
      // warm-up anyway.
      model.awaitWarmUp();
      System.gc();
      NativeHeap.trim();
      int[] eos = IntStream.concat(Arrays.stream(cfg.eosTokenIds()),
          Arrays.stream(tokenizer.special().eosIds())).distinct().toArray();
      return new LoadedModel(dir, model, tokenizer, eos);
    } catch (RuntimeException e) {
      tokenizer.close();
      throw e;
    }
  }

  public Path dir() {
    return dir;
  }

  public ModelConfig config() {
    return model.config();
  }

  public Model model() {
    return model;
  }

  public TextTokenizer tokenizer() {
    return tokenizer;
  }

  /** End-of-sequence ids from config.json, generation_config.json and tokenizer_config.json. */
  public int[] eosIds() {
    return eosIds.clone();
  }

  @Override
  public void close() {
    model.close();
    tokenizer.close();
  }
}
