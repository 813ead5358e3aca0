"""A real `transformers serve` process on loopback serving the tiny Qwen3-VL: one per test session.

Tests of anything that talks to an OpenAI-compatible server (the synthesis HTTP backend, the evaluation
judge) use `tiny_vlm_server`, a (base_url, model name) pair. `transformers_serve` (also used by
`benchmarks/bench_synthesis.py`) starts the server on a free port, waits until `/health` answers, and kills
its process group on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving_process(
    command: list[str], log: Path, ready_url: str, *, env: dict, ready_s: float, what: str
) -> Iterator[None]:
    """Run `command` (output to `log`) until the block ends, once `ready_url` answers 200; kill its group after."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {ready_s:g} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def transformers_serve(model: str | Path, log: Path, *extra_args: str, ready_s: float = 180) -> Iterator[str]:
    """Serve `model` on loopback for the duration of the block; yields the base URL (".../v1")."""
    port = free_port()
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu", *extra_args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with serving_process(
        command, log, f"http://127.0.0.1:{port}/health", env=env, ready_s=ready_s, what="transformers serve"
    ):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="session")
def tiny_vlm_server(tiny_qwen3_vl_path: Path, tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with transformers_serve(tiny_qwen3_vl_path, log) as base_url:
        yield base_url, str(tiny_qwen3_vl_path)
