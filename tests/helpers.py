"""Shared test helpers: launching scripts under `accelerate launch` on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from huggingface_hub.utils import filter_repo_objects


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


class FakeHubApi:
    """Stands in for `HfApi`: records the calls and what an upload would send (after its ignore patterns)."""

    def __init__(self):
        self.calls = []
        self.uploads = []  # per upload_folder call: the sorted relative paths that would be uploaded

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def list_repo_commits(self, repo_id, **kwargs):
        self.calls.append(("list_repo_commits", repo_id, kwargs))
        return [SimpleNamespace(commit_id="newest"), SimpleNamespace(commit_id="initial")]  # newest first

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        folder = Path(kwargs["folder_path"])
        files = [path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()]
        self.uploads.append(sorted(filter_repo_objects(files, ignore_patterns=kwargs.get("ignore_patterns"))))
        return SimpleNamespace(commit_url=f"https://hub/{kwargs['repo_id']}/commit/{len(self.uploads)}")

    def call(self, name):
        """The keyword arguments of the only call of `name`."""
        found = [kwargs for called, _, kwargs in self.calls if called == name]
        assert len(found) == 1, f"{name} called {len(found)} times: {self.calls}"
        return found[0]


def launch_deepspeed(
    script: str | Path, args: list[str], config: str, num_processes: int = 2, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run `script` under `accelerate launch --config_file accelerate_configs/<config>` on the CPU, unedited.

    Only what differs from a GPU machine is passed as flags (the process count, fp32, a free port); CUDA is
    hidden, and `ACCELERATE_USE_CPU` is left unset (it would turn DeepSpeed off). DeepSpeed then runs on its CPU
    accelerator over gloo, and the scripts' own `process_state` gives every rank its index.
    """
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(REPO_ROOT / "accelerate_configs" / config),
        "--num_processes", str(num_processes), "--mixed_precision", "no", "--main_process_port", "0", str(script), *args,
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "ACCELERATE_USE_CPU"}
    env.update(CUDA_VISIBLE_DEVICES="")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise AssertionError(
            f"accelerate launch ({config}) of {script} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-8000:]}\n--- stderr ---\n{result.stderr[-12000:]}"
        )
    return result
