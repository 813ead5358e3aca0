"""Shared test helpers: launching scripts under `accelerate launch` on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]


def launch_cpu(
    script: str | Path, args: list[str], num_processes: int = 2, timeout: int = 300
) -> subprocess.CompletedProcess:
    """Run `script` under `accelerate launch` as `num_processes` CPU processes talking over gloo.

    accelerate 1.15's `--cpu` launcher starts one process whatever `--num_processes` says, so several
    processes go through the torchrun launcher (`--multi_gpu`) with `ACCELERATE_USE_CPU` set and CUDA hidden:
    `Accelerator()` and `TrainingArguments` then pick the MULTI_CPU/gloo setup, also on a GPU machine. A bare
    `PartialState()` made before them does not read `ACCELERATE_USE_CPU`: use `PartialState(cpu=True)`.
    Port 0 lets torchrun pick a free rendezvous port, so launches can run side by side.
    """
    mode = ["--multi_gpu"] if num_processes > 1 else ["--cpu"]
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *mode,
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "0",
        str(script),
        *args,
    ]
    env = dict(os.environ)
    env.update(ACCELERATE_USE_CPU="true", CUDA_VISIBLE_DEVICES="")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise AssertionError(
            f"accelerate launch of {script} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result
