package org.treeroll.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.SplittableRandom;
import org.treeroll.engine.io.DType;
import org.treeroll.engine.io.NamedTensor;
import org.treeroll.engine.io.SafetensorsWriter;
import org.treeroll.engine.tokenizer.ByteLevelTokenizerJson;
import org.treeroll.tree.AtomicFile;
import org.treeroll.tree.TreeRollException;

/**
 * Writes a HF model directory with random weights, deterministic from a seed: config.json,
 * model.safetensors, tokenizer.json, tokenizer_config.json and generation_config.json. Each
 * tensor draws from its own stream seeded by (seed, name), so a tensor's values do not depend on
 * which other tensors the shape has.
 */
public final class RandomModelWriter {
  private RandomModelWriter() {}

  /** The values of every tensor of {@code cfg}, in checkpoint order. */
  public static List<NamedTensor> tensors(ModelConfig cfg, long seed) {
    List<NamedTensor> out = new ArrayList<>();
    for (Map.Entry<String, long[]> e : WeightNames.shapes(cfg).entrySet()) {
      out.add(new NamedTensor(e.getKey(), e.getValue(), values(cfg, e.getKey(), e.getValue(), seed)));
    }
    return out;
  }

  /** The tensors of {@code cfg} as {@link #tensors} makes them, one at a time when written. */
  private static void writeWeights(Path file, ModelConfig cfg, long seed, DType dtype, Map<String, String> metadata) {
    Map<String, long[]> shapes = WeightNames.shapes(cfg);
    SafetensorsWriter.write(file, shapes, name -> values(cfg, name, shapes.get(name), seed), dtype, metadata);
  }

  /**
   * Writes the directory. {@code qwenTokenizerDir} holds the real Qwen3 tokenizer files, used by
   * presets that need them (see {@link ModelPreset#usesQwenTokenizer()}).
   */
  public static void write(Path dir, ModelPreset preset, long seed, DType dtype, Path qwenTokenizerDir) {
    ModelConfig cfg = preset.config();
    Map<String, String> meta = Map.of("format", "pt", "treeroll_preset", preset.id(),
        "treeroll_seed", Long.toString(seed));
    if (preset.usesQwenTokenizer()) {
      writeDirectory(dir, cfg, f -> writeWeights(f, cfg, seed, dtype, meta), null);
      try {
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
          Path src = qwenTokenizerDir.resolve(f);
          if (!Files.isRegularFile(src)) {
            throw new TreeRollException(src + ": not found; run scripts/fetch-tokenizers.sh first");
          }
          Files.copy(src, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
      } catch (IOException e) {
        throw new TreeRollException(dir + ": cannot write model directory: " + e.getMessage(), e);
      }
    } else {
      writeDirectory(dir, cfg, f -> writeWeights(f, cfg, seed, dtype, meta), List.of(ModelPreset.TINY_SPECIAL_TOKENS));
    }
  }

  /**
   * Writes a HF model directory: config.json, model.safetensors (in {@code dtype}) and
   * generation_config.json; when {@code byteLevelSpecialTokens} is not null, also a byte-level
   * tokenizer.json with those special tokens (ids 256 up) and a tokenizer_config.json naming the
   * first one as EOS and padding.
   */
  public static void writeDirectory(Path dir, ModelConfig cfg, List<NamedTensor> tensors, DType dtype,
      Map<String, String> metadata, List<String> byteLevelSpecialTokens) {
    writeDirectory(dir, cfg, f -> SafetensorsWriter.write(f, tensors, dtype, metadata), byteLevelSpecialTokens);
  }

  private static void writeDirectory(Path dir, ModelConfig cfg, Consumer<Path> weights,
      List<String> byteLevelSpecialTokens) {
    try {
      Files.createDirectories(dir);
      // A writer killed mid-file (SafetensorsWriter writes atomically) left its temporary file here.
      AtomicFile.removeStale(dir, List.of("model.safetensors"));
      ObjectMapper json = new ObjectMapper();
      writeJson(json, dir.resolve("config.json"), cfg.toJson());
      weights.accept(dir.resolve("model.safetensors"));
      ObjectNode gen = json.createObjectNode();
      gen.set("eos_token_id", cfg.toJson().get("eos_token_id"));
      if (cfg.bosTokenId() >= 0) {
        gen.put("bos_token_id", cfg.bosTokenId());
      }
      writeJson(json, dir.resolve("generation_config.json"), gen);
      if (byteLevelSpecialTokens != null) {
        ByteLevelTokenizerJson.write(dir.resolve("tokenizer.json"), byteLevelSpecialTokens);
        ObjectNode tc = json.createObjectNode();
        tc.put("eos_token", byteLevelSpecialTokens.get(0));
        tc.put("pad_token", byteLevelSpecialTokens.get(0));
        writeJson(json, dir.resolve("tokenizer_config.json"), tc);
      }
    } catch (IOException e) {
      throw new TreeRollException(dir + ": cannot write model directory: " + e.getMessage(), e);
    }
  }

  private static void writeJson(ObjectMapper json, Path file, ObjectNode node) throws IOException {
    json.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), node);
  }

  /**
   * Uniform values with the spread of a sensible init: norms near 1; projections with std
   * 1/sqrt(fan-in) so activations keep their scale; embeddings wide enough that the tiny models'
   * next-token distributions are far from uniform.
   */
  private static float[] values(ModelConfig cfg, String name, long[] shape, long seed) {
    long size = 1;
    for (long d : shape) {
      size *= d;
    }
    if (size > Integer.MAX_VALUE) {
      throw new TreeRollException("tensor " + name + " has " + size + " elements, too many for one array");
    }
    SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
    float[] v = new float[(int) size];
    double std;
    double mean = 0;
    if (WeightNames.isNorm(name)) {
      mean = 1;
      std = 0.1;
    } else if (name.endsWith(".bias")) {
      std = 0.1;
    } else if (name.equals(WeightNames.EMBED) || name.equals(WeightNames.LM_HEAD)) {
      std = 2.0 / Math.sqrt(cfg.hiddenSize());
    } else {
      std = 1.0 / Math.sqrt(shape[1]);
    }
    double half = std * Math.sqrt(3); // uniform on [-a, a] has std a / sqrt(3)
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (mean + (2 * rng.nextDouble() - 1) * half);
    }
    return v;
  }
}
