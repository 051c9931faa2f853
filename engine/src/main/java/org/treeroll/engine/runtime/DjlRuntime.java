package org.treeroll.engine.runtime;

import ai.djl.Device;
import ai.djl.engine.Engine;

/**
 * Process-wide DJL settings, applied before PyTorch loads: never download (the CPU natives come
 * from Maven), never report usage, use every core for intra-op parallelism, and pick CUDA when
 * DJL sees a GPU.
 */
public final class DjlRuntime {
  private DjlRuntime() {}

  private static volatile Device device;

  /** The device models run on: the first GPU if DJL reports one, else the CPU. */
  public static Device device() {
    if (device == null) {
      synchronized (DjlRuntime.class) {
        if (device == null) {
          setDefault("ai.djl.offline", "true");
          setDefault("OPT_OUT_TRACKING", "true");
          setDefault("ai.djl.pytorch.num_threads", Integer.toString(java.lang.Runtime.getRuntime().availableProcessors()));
          setDefault("ai.djl.pytorch.num_interop_threads", "1");
          device = Engine.getEngine("PyTorch").getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        }
      }
    }
    return device;
  }

  private static void setDefault(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
