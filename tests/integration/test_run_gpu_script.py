"""benchmarks/run_gpu.sh at its CPU tiny sizes: every benchmark runs, prints its ratios and lands in the tables."""

import json
import os
import subprocess
import sys

import pytest
from tests.helpers import REPO_ROOT


BENCHMARKS = ("superedit", "sft", "dpo", "synthesis")


@pytest.mark.timeout(1400)  # four benchmarks, each bounded at 300 s by the script
def test_run_gpu_tiny_runs_every_benchmark_and_writes_json_and_markdown(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        ["bash", "benchmarks/run_gpu.sh", "--tiny", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert not (tmp_path / "install.log").exists()  # --tiny installs nothing
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["mode"] == "tiny-cpu" and summary["elapsed_s"] > 0
    table = (tmp_path / "results.md").read_text()
    for name in BENCHMARKS:
        entry = summary["benchmarks"][name]
        assert entry["status"] == "ok", (name, (tmp_path / f"{name}.log").read_text()[-2000:])
        assert entry["device"].startswith("CPU")
        assert entry["ratios"] and all(value > 0 for value in entry["ratios"].values()), (name, entry["ratios"])
        assert f"| {name} | ok | CPU" in table
    for name in ("superedit", "sft", "synthesis"):  # one line with every ratio, and the goals next to them
        assert f"RATIOS {name}:" in run.stdout and "goal >=" in run.stdout
    assert {"c/a", "c/b"} <= set(summary["benchmarks"]["superedit"]["ratios"])
    assert {"recipe/TRL defaults", "recipe/TRL no checkpointing", "bare/TRL defaults"} <= set(
        summary["benchmarks"]["sft"]["ratios"]
    )
