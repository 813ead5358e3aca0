#!/usr/bin/env bash
# Run ON the lent GPU machine, from the repository root, with benchmarks/.gpu_bundle carried
# (benchmarks/run_gpu.sh calls it first):
#   bash benchmarks/install_gpu_wheels.sh [--zero] && python benchmarks/<benchmark>.py
# Installs the carried wheels offline (no index, no dependency resolution: the bundle is the whole
# difference from the image), then this package, then checks that the stack imports offline.
# DeepSpeed is checked only with --zero (a ZeRO run needs it; nothing else imports it).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
PY=${PYTHON:-python}
BUNDLE=benchmarks/.gpu_bundle/wheels.tar.xz
[ -f "$BUNDLE" ] || { echo "no $BUNDLE: run benchmarks/fetch_gpu_wheels.sh here and carry benchmarks/.gpu_bundle" >&2; exit 1; }
# What the bundle does not carry must already be on the image (see fetch_gpu_wheels.sh).
"$PY" -c "import pyarrow" 2>/dev/null || {
    echo "this image lacks pyarrow (datasets needs it): rebuild the bundle here with WITH_PYARROW=1 bash benchmarks/fetch_gpu_wheels.sh" >&2
    exit 1
}
WHEELS=$(mktemp -d)
tar -C "$WHEELS" -xJf "$BUNDLE"
"$PY" -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl
"$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation -e .
rm -rf "$WHEELS"
MODULES="torch transformers huggingface_hub trl diffusers datasets accelerate peft liger_kernel edit_handbook"
[ "${1:-}" = "--zero" ] && MODULES="$MODULES deepspeed"
"$PY" - $MODULES <<'PY'
import importlib, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    print(f"{name:16s} {getattr(module, '__version__', '?')}")
import torch
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
PY
