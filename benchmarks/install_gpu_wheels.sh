#!/usr/bin/env bash
# Run ON the lent GPU machine, from the repository root, with benchmarks/.gpu_bundle carried:
#   bash benchmarks/install_gpu_wheels.sh && python benchmarks/<benchmark>.py
# Installs the carried wheels offline, then this package (no dependencies: the rest is there).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=benchmarks/.gpu_bundle/wheels.tar.xz
[ -f "$BUNDLE" ] || { echo "no $BUNDLE: run benchmarks/fetch_gpu_wheels.sh here and carry benchmarks/.gpu_bundle" >&2; exit 1; }
WHEELS=$(mktemp -d)
tar -C "$WHEELS" -xJf "$BUNDLE"
python -m pip install --quiet --no-index --no-deps "$WHEELS"/*.whl
python -m pip install --quiet --no-index --no-deps --no-build-isolation -e .
python - <<'PY'
import importlib
for name in ("torch", "transformers", "trl", "diffusers", "datasets", "accelerate", "peft", "deepspeed", "edit_handbook"):
    module = importlib.import_module(name)
    print(f"{name:14s} {getattr(module, '__version__', '?')}")
import torch
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
PY
