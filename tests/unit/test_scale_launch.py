"""Running at scale, checked without a cluster or a GPU: the Slurm launcher's accelerate command on each node
(fake `srun` / `scontrol` / `accelerate`), and the ZeRO-3 capacity benchmark's search and command lines."""

import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


ROOT = Path(__file__).resolve().parents[2]


def _fake_bin(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def _run_slurm(tmp_path: Path, *args: str, nodes: int = 2) -> subprocess.CompletedProcess:
    """Run slurm/train.slurm as sbatch would on the first node; fake srun runs the task once per node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _fake_bin(bin_dir, "scontrol", 'printf "gpu-node-%s\\n" 0 1 2 3 | head -n "$SLURM_NNODES"')
    # srun starts the task on every node with that node's SLURM_PROCID; the last argument is the `bash -c` script.
    _fake_bin(
        bin_dir,
        "srun",
        'for rank in $(seq 0 $((SLURM_NNODES - 1))); do SLURM_PROCID=$rank "${@:3}"; done',
    )
    _fake_bin(bin_dir, "accelerate", 'echo "node $SLURM_PROCID: accelerate $(printf "%q " "$@")"')
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_NNODES": str(nodes),
        "SLURM_JOB_NODELIST": "gpu-node-[0-3]",
        "VENV": str(tmp_path / "no-venv"),
    }
    return subprocess.run(
        ["bash", "slurm/train.slurm", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_slurm_launcher_starts_one_accelerate_per_node_with_its_rank(tmp_path):
    recipe = "recipes/editcaption/qwen3-vl-235b-a22b/sft/config_lora.yaml"
    done = _run_slurm(tmp_path, "sft", recipe, "--learning_rate", "1e-5", "--run_name", "a b")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("node ")]
    assert len(lines) == 2
    for rank, line in enumerate(lines):
        words = shlex.split(line.split(": ", 1)[1])
        assert words[:2] == ["accelerate", "launch"]
        flags = dict(zip(words[2::2], words[3::2]))
        assert flags["--config_file"] == "accelerate_configs/zero3_multinode_4x8.yaml"
        assert flags["--num_machines"] == "2" and flags["--num_processes"] == "16"
        assert flags["--machine_rank"] == str(rank) and flags["--main_process_ip"] == "gpu-node-0"
        assert words[words.index("src/edit_handbook/sft.py") :] == [
            "src/edit_handbook/sft.py", "--config", recipe, "--learning_rate", "1e-5", "--run_name", "a b",
        ]  # fmt: skip


def test_slurm_launcher_takes_another_config_and_refuses_unknown_names(tmp_path):
    done = _run_slurm(tmp_path, "train_superedit", "recipes/superedit/sd15/train/config_paper.yaml", "ddp", nodes=1)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("node ")]
    assert "--config_file accelerate_configs/ddp.yaml" in line and "--num_processes 8" in line
    assert line.rstrip().endswith(
        "src/edit_handbook/train_superedit.py --config recipes/superedit/sd15/train/config_paper.yaml"
    )
    assert "no accelerate_configs/zero4.yaml" in _run_slurm(tmp_path, "sft", "recipes/README.md", "zero4").stderr
    assert "no src/edit_handbook/train.py" in _run_slurm(tmp_path, "train", "recipes/README.md").stderr


def test_the_multinode_config_is_zero3_over_4x8():
    config = yaml.safe_load((ROOT / "accelerate_configs" / "zero3_multinode_4x8.yaml").read_text())
    assert config["deepspeed_config"]["zero_stage"] == 3 and config["distributed_type"] == "DEEPSPEED"
    assert (config["num_machines"], config["num_processes"]) == (4, 32)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_zero3_capacity", ROOT / "benchmarks" / "bench_zero3_capacity.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _plans(bench, fits=(True, True, True, True)):
    names = ["2b", "8b", "32b", "235b-a22b"]
    return [
        bench.SizePlan(name, name, float(i + 1), 1.0, 10.0 * (i + 1), 15.0, 1.0, fit)
        for i, (name, fit) in enumerate(zip(names, fits))
    ]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_search_stops_at_the_first_size_that_fails(bench):
    clock, tried = FakeClock(), []

    def try_size(plan, timeout):
        tried.append((plan.size, timeout))
        clock.now += 100
        return bench.Outcome("ok" if plan.size in ("2b", "8b") else "failed", 100, "")

    largest, outcomes = bench.find_largest(
        _plans(bench), try_size, time_budget=1000, per_size_timeout=300, clock=clock
    )
    assert largest == "8b" and tried == [("2b", 300), ("8b", 300), ("32b", 300)]
    assert outcomes["32b"].status == "failed"
    assert outcomes["235b-a22b"].status == "skipped" and "32b did not train" in outcomes["235b-a22b"].detail


def test_search_keeps_to_its_time_budget_and_skips_what_cannot_fit_host_ram(bench):
    clock, tried = FakeClock(), []

    def try_size(plan, timeout):
        tried.append((plan.size, timeout))
        clock.now += 250
        return bench.Outcome("ok", 250)

    plans = _plans(bench, fits=(True, False, True, True))
    largest, outcomes = bench.find_largest(plans, try_size, time_budget=400, per_size_timeout=300, clock=clock)
    assert tried == [("2b", 300), ("32b", 150)]  # the last try gets only what is left of the budget
    assert largest == "32b" and outcomes["8b"].status == "skipped" and "host RAM" in outcomes["8b"].detail
    assert outcomes["235b-a22b"].detail == "time budget spent"


def test_run_command_reports_results_failures_and_timeouts(bench, tmp_path):
    ok = bench.run_command(
        [sys.executable, "-c", f"print('x'); print('{bench.RESULT_PREFIX}{{\"a\": 1}}')"], 30, tmp_path / "a.log"
    )
    assert (ok.status, ok.detail) == ("ok", '{"a": 1}')
    failed = bench.run_command(
        [sys.executable, "-c", "raise MemoryError('CUDA out of memory')"], 30, tmp_path / "b.log"
    )
    assert failed.status == "failed" and "MemoryError: CUDA out of memory" in failed.detail
    slow = bench.run_command([sys.executable, "-c", "import time; time.sleep(30)"], 0.5, tmp_path / "c.log")
    assert slow.status == "timeout" and slow.seconds < 10


def test_commands_launch_one_process_with_the_zero3_configs(bench, tmp_path):
    smoke = bench.smoke_commands(tmp_path, steps=5)
    assert list(smoke) == ["sft", "dpo", "superedit"]
    for command in smoke.values():
        assert command[command.index("--config_file") + 1] == "accelerate_configs/zero3.yaml"
        assert command[command.index("--num_processes") + 1] == "1"
    assert smoke["dpo"][smoke["dpo"].index("--model_name_or_path") + 1] == str(tmp_path / "sft")
    capacity = bench.capacity_command("8b", steps=3, image_size=512, batch_size=1)
    assert capacity[capacity.index("--config_file") + 1] == "accelerate_configs/zero3_offload.yaml"
    assert capacity[capacity.index("--mixed_precision") + 1] == "bf16"
    assert capacity[-8:] == ["--worker", "8b", "--steps", "3", "--image-size", "512", "--batch-size", "1"]
    offload = yaml.safe_load((ROOT / "accelerate_configs" / "zero3_offload.yaml").read_text())["deepspeed_config"]
    assert offload["offload_param_device"] == offload["offload_optimizer_device"] == "cpu"
