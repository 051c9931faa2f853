package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.tree.TreeRollException;

/**
 * Process-wide DJL settings, applied before PyTorch loads: never download (the natives come
 * from Maven), never report usage, use every core for intra-op parallelism, and run on the
 * device chosen by {@link #select} ({@code --device}): the first GPU when asked for or, by
 * default, when DJL sees one. Choosing the device does not start PyTorch where the libtorch on
 * the class path is a CPU build (it could not see a GPU): a model whose steps all run in Java
 * then never loads it.
 */
public final class DjlRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(DjlRuntime.class);
  /** Written by DJL's pytorch-native jars: which libtorch build they carry. */
  private static final String NATIVE_PROPERTIES = "native/lib/pytorch.properties";

  private DjlRuntime() {}

  /** Where models run. */
  public enum DeviceChoice { CPU, GPU, AUTO }

  private static volatile Device device;
  private static DeviceChoice choice = DeviceChoice.AUTO;

  /** Chooses the device; once models run, only a choice the device already meets is accepted. */
  public static synchronized void select(DeviceChoice c) {
    boolean met = c == DeviceChoice.AUTO || (c == DeviceChoice.GPU) == (device != null && device.isGpu());
    if (device != null && !met) {
      throw new TreeRollException("the device is already " + device + "; choose it before anything runs");
    }
    choice = c;
  }

  /** The device models run on, as {@link #select} chose: AUTO is the first GPU if DJL reports one. */
  public static Device device() {
    if (device == null) {
      synchronized (DjlRuntime.class) {
        if (device == null) {
          setDefault("ai.djl.offline", "true");
          setDefault("OPT_OUT_TRACKING", "true");
          setDefault("ai.djl.pytorch.num_threads", Integer.toString(java.lang.Runtime.getRuntime().availableProcessors()));
          setDefault("ai.djl.pytorch.num_interop_threads", "1");
          device = pick(choice);
        }
      }
    }
    return device;
  }

  private static Device pick(DeviceChoice c) {
    String cpuBuild = c == DeviceChoice.CPU ? null : cpuOnlyBuild();
    int gpus = c == DeviceChoice.CPU || cpuBuild != null ? 0 : Engine.getEngine("PyTorch").getGpuCount();
    String none = cpuBuild != null ? "the bundled libtorch is its " + cpuBuild + " build" : "DJL sees no CUDA device";
    return switch (c) {
      case CPU -> Device.cpu();
      case GPU -> {
        if (gpus == 0) {
          throw new TreeRollException("--device gpu: " + none + "; run on a CUDA host with the GPU build"
              + " (mvn -P cuda, see docs/architecture.md)");
        }
        yield Device.gpu();
      }
      case AUTO -> {
        if (gpus == 0) {
          LOG.info("device: cpu ({}; --device gpu would refuse)", none);
          yield Device.cpu();
        }
        LOG.info("device: gpu 0 of {} CUDA devices", gpus);
        yield Device.gpu();
      }
    };
  }

  /**
   * The flavor of the libtorch on the class path when it is a CPU build and nothing points DJL at
   * another one, else null (then only PyTorch can tell whether it sees a GPU).
   */
  private static String cpuOnlyBuild() {
    for (String elsewhere : new String[] {"PYTORCH_LIBRARY_PATH", "PYTORCH_FLAVOR", "PYTORCH_VERSION"}) {
      if (System.getenv(elsewhere) != null || System.getProperty(elsewhere) != null) {
        return null;
      }
    }
    try (InputStream in = DjlRuntime.class.getClassLoader().getResourceAsStream(NATIVE_PROPERTIES)) {
      if (in == null) {
        return null;
      }
      Properties p = new Properties();
      p.load(in);
      String flavor = p.getProperty("flavor", "");
      return flavor.startsWith("cpu") ? flavor : null;
    } catch (IOException e) {
      return null;
    }
  }

  private static void setDefault(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
