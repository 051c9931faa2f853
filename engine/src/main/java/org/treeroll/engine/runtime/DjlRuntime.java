package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.engine.Engine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.treeroll.tree.TreeRollException;

/**
 * Process-wide DJL settings, applied before PyTorch loads: never download (the natives come
 * from Maven), never report usage, use every core for intra-op parallelism, and run on the
 * device chosen by {@link #select} ({@code --device}): the first GPU when asked for or, by
 * default, when DJL sees one.
 */
public final class DjlRuntime {
  private static final Logger LOG = LoggerFactory.getLogger(DjlRuntime.class);

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
          device = pick(choice, Engine.getEngine("PyTorch").getGpuCount());
        }
      }
    }
    return device;
  }

  private static Device pick(DeviceChoice c, int gpus) {
    return switch (c) {
      case CPU -> Device.cpu();
      case GPU -> {
        if (gpus == 0) {
          throw new TreeRollException("--device gpu: DJL sees no CUDA device; run on a CUDA host with the GPU build"
              + " (mvn -P cuda, see docs/architecture.md)");
        }
        yield Device.gpu();
      }
      case AUTO -> {
        if (gpus == 0) {
          LOG.info("device: cpu (DJL sees no CUDA device; --device gpu would refuse)");
          yield Device.cpu();
        }
        LOG.info("device: gpu 0 of {} CUDA devices", gpus);
        yield Device.gpu();
      }
    };
  }

  private static void setDefault(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
