#!/usr/bin/env bash
# The prepared GPU check (issue 6), run in one `device` call from the repository root:
#
#   make device-prep                      # here, once: wheels + weights (~27 MB)
#   run(command="bash benchmarks/device_check.sh", carry=[".device", ".venv/models/rife"],
#       timeout_s=540)
#
# Prints the GPU, then benchmarks/interpolate_speed.py --device cuda: output frames/s
# for 25 -> 120 at 1024x576 and 1920x1080 in fp16 and bf16, peak memory, the speed-up
# over the per-frame loop, and the ratio to the 400 frames/s target. Everything it
# prints is also written to $OUT/rife_gpu.txt. Nothing is downloaded there.
set -euo pipefail
out="${OUT:-.}"
py="${PYTHON:-python3}"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  if compgen -G ".device/wheels/*.whl" >/dev/null; then
    "$py" -m pip install --quiet --no-index --no-deps --target .device/site .device/wheels/*.whl
  fi
  export PYTHONPATH="$PWD/.device/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  export VIDGEN_MODELS_DIR="${VIDGEN_MODELS_DIR:-$PWD/.venv/models}"
  timeout 480 "$py" benchmarks/interpolate_speed.py --device cuda --repeat 3
} 2>&1 | tee "$out/rife_gpu.txt"
