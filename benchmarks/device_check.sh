#!/usr/bin/env bash
# The prepared GPU checks, run in one `device` call from the repository root:
#
#   make device-prep            # here, once: .device/wheels (pydantic, PyAV) + weights
#   run(command="bash benchmarks/device_check.sh", carry=[".device", ".venv/models/rife"],
#       timeout_s=540)
#
# rife   (issue 6): benchmarks/interpolate_speed.py --device cuda: output frames/s for
#        25 -> 120 at 1024x576 and 1920x1080 in fp16 and bf16, peak memory, the speed-up
#        over the per-frame loop, the ratio to the 400 frames/s target;
# encode (issue 7): benchmarks/encode.py --no-cli: what encoder="auto" chooses there and
#        why, whether an explicit hevc_nvenc is refused, the chosen encoder's frames/s.
# `bash benchmarks/device_check.sh rife` or `... encode` runs one of them (carry only
# what it needs if the whole set outgrows a call: rife needs the weights, encode the
# wheels). Output also goes to $OUT/device_check.txt. Nothing is downloaded there.
set -euo pipefail
what="${1:-all}"
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
  if [ "$what" = all ] || [ "$what" = encode ]; then
    echo "== encode"
    timeout 120 "$py" benchmarks/encode.py --no-cli || echo "encode check failed: $?"
  fi
  if [ "$what" = all ] || [ "$what" = rife ]; then
    echo "== rife"
    timeout 420 "$py" benchmarks/interpolate_speed.py --device cuda --repeat 3
  fi
} 2>&1 | tee "$out/device_check.txt"
