#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU and a driver for CUDA 12.4 or newer: builds TreeRoll
# with the CUDA libtorch (mvn -P cuda), runs the parity tests on the GPU (the PyTorch forward
# against the plain-Java reference forward, Llama 3 rope scaling included; every tree leaf's
# log-probs against teacher-forced rescoring; the samplers), then the decode bench there.
# Not part of `./treeroll test`. Written where no GPU was available: it has not run yet.
# Usage: scripts/gpu-check.sh [bench decode options, e.g. --model qwen2.5-0.5b --batches 1,64]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found: this needs a machine with an NVIDIA GPU" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [ -z "${JAVA_HOME:-}" ]; then
  JAVA_HOME=$(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -V | tail -1)
  export JAVA_HOME=${JAVA_HOME%/}
fi
export PATH="$JAVA_HOME/bin:$PATH"
MVN=(mvn -B -ntp -Dstyle.color=never -P cuda -f "$ROOT/pom.xml")

"$ROOT/scripts/fetch-tokenizers.sh"
echo "gpu-check: parity tests on the GPU (DJL picks CUDA when it sees a device; the Java-kernel paths skip)" >&2
"${MVN[@]}" -q test -pl engine -am -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtest='LlamaDecoderTest,SchedulerTest,TokenSamplerTest,LogitAdjustmentsTest'

echo "gpu-check: building the CUDA launcher classpath" >&2
# clean: server/target/lib must not keep the CPU natives next to the CUDA ones.
"${MVN[@]}" -q clean package -DskipTests
touch "$ROOT/server/target/.treeroll-built" # the launcher would otherwise rebuild with the CPU natives
echo "gpu-check: decode bench on the GPU" >&2
"$ROOT/treeroll" --device gpu bench decode "$@"
echo "gpu-check: done. Run 'mvn clean' before going back to the CPU build." >&2
