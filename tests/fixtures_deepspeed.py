"""DeepSpeed for the ZeRO tests, installed by the tests that need it (so `make demo` never pays for it).

`deepspeed_cpu` installs the pinned DeepSpeed into this interpreter's environment when it is missing (the
registry ships an sdist; pip builds a pure-Python wheel in seconds and keeps it in pip's cache) and builds
DeepSpeed's `deepspeed_shm_comm` op, which its CPU backend loads when a process group starts. That op is
JIT-compiled once (a C++ compiler, about 90 s on 2 cores) into torch's extension cache under the user's
cache folder (`~/.cache/torch_extensions`, or `$TORCH_EXTENSIONS_DIR`); later sessions load it in seconds.
Building it here, once, keeps two ranks from compiling it inside a launch that has a timeout.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest


DEEPSPEED_REQUIREMENT = "deepspeed==0.19.8"  # the version these tests were verified with on CPU
BUILD_OP = (
    "from deepspeed.accelerator import get_accelerator\n"
    "get_accelerator().create_op_builder('ShareMemCommBuilder').load()\n"
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"DeepSpeed ZeRO tests: {reason}")
    pytest.skip(f"DeepSpeed ZeRO tests: {reason}")


@pytest.fixture(scope="session")
def deepspeed_cpu() -> dict[str, float]:
    """DeepSpeed importable and its CPU communication op built; returns the seconds each part took."""
    timings = {}
    if importlib.util.find_spec("deepspeed") is None:
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", DEEPSPEED_REQUIREMENT],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            _unavailable(f"`pip install {DEEPSPEED_REQUIREMENT}` failed:\n{result.stderr[-2000:]}")
        importlib.invalidate_caches()
        timings["install_s"] = time.perf_counter() - start
    start = time.perf_counter()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the CPU accelerator's op, also on a GPU machine
    result = subprocess.run([sys.executable, "-c", BUILD_OP], capture_output=True, text=True, timeout=900, env=env)
    if result.returncode != 0:
        _unavailable(f"building DeepSpeed's shm_comm op failed (needs a C++ compiler):\n{result.stderr[-3000:]}")
    timings["op_build_or_load_s"] = time.perf_counter() - start
    print(f"DeepSpeed ready: {timings}")
    return timings
