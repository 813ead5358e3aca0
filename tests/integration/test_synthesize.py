"""The synthesis engine end to end: every task on the tiny Qwen3-VL (local backend), and a `kill -9` resume."""

import json
import os
import signal
import subprocess
import sys

import datasets
import pytest
from tests.helpers import REPO_ROOT, launch_cpu
from tests.synth_servers import FaultServer

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.models import load_clip_tokenizer
from edit_handbook.synth.backends import LocalBackend
from edit_handbook.synth.engine import run_task, save_result
from edit_handbook.synth.prompts import prompt_version
from edit_handbook.synth.tasks import make_task


@pytest.fixture(scope="module")
def local_backend(tiny_qwen3_vl_path):
    return LocalBackend.from_pretrained(str(tiny_qwen3_vl_path), dtype="float32", device="cpu", batch_size=2)


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(2, image_size=64)


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("caption", {"max_new_tokens": 8}),
        ("filter", {"max_new_tokens": 8}),
        ("rectify", {"max_new_tokens": 8}),
        ("negatives", {"max_new_tokens": 8, "k": 2}),
    ],
)
def test_each_task_runs_on_the_tiny_model(name, settings, local_backend, pairs, model_cache_dir, tmp_path):
    clip = load_clip_tokenizer(model_cache_dir) if name in ("rectify", "negatives") else None
    task = make_task(name, clip_tokenizer=clip, **settings)
    rows = run_task(pairs, task, local_backend, tmp_path, chunk_size=2, progress=False)
    assert list(rows["id"]) == list(pairs["id"])
    assert set(rows["synthesis_status"]) <= {"ok", "rejected", "failed"}
    assert all(reason for status, reason in zip(rows["synthesis_status"], rows["synthesis_reason"]) if status != "ok")
    assert not any("local generation failed" in reason for reason in rows["synthesis_reason"])
    assert set(rows["prompt_version"]) == {prompt_version()}

    result = save_result(rows, task, local_backend, tmp_path, run_info={"test": name})
    reloaded = datasets.load_from_disk(str(tmp_path / "dataset"))
    assert len(reloaded["train"]) + len(reloaded["rejected"]) == len(pairs)
    assert reloaded["train"].features["source_image"] == datasets.Image()
    card = (tmp_path / "README.md").read_text()
    for text in (prompt_version(), str(local_backend.model_name), '"backend": "local"', '"test": "' + name):
        assert text in card
    assert all(f"| {outcome} | {count} |" in card for outcome, count in result.counts.items())


def synthesize_command(base_url: str, output_dir) -> list[str]:
    return [
        sys.executable, "-m", "edit_handbook.cli", "synthesize", "caption",
        "--dataset_name", "synthetic", "--dataset_synthetic_pairs", "10",
        "--backend", "http", "--base_url", base_url, "--synthesis_model", "fake", "--api_key_env", "SYNTH_TEST_KEY",
        "--response_format", "none", "--concurrency", "1", "--chunk_size", "2", "--shard_size", "2",
        "--output_dir", str(output_dir),
    ]  # fmt: skip


def test_kill_9_then_the_same_command_finishes_each_row_exactly_once(tmp_path):
    """Deterministic: with one request in flight and two rows per chunk and shard, the server kills the client
    as request 5 arrives, when exactly two shards (4 rows) are complete; the rerun asks for the other 6."""
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}", "OMP_NUM_THREADS": "1"}
    env["SYNTH_TEST_KEY"] = "sk-secret-for-test"
    with FaultServer(lambda body: "Move the shape.") as server:
        command = synthesize_command(server.base_url, tmp_path)
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        server.on_request = lambda number: number == 5 and os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=300)
        assert process.returncode == -signal.SIGKILL
        assert sorted(p.name for p in (tmp_path / "shards").glob("shard-*.parquet")) == [
            "shard-r00000-000000.parquet",
            "shard-r00000-000001.parquet",
        ]
        server.on_request = None
        before = server.count
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert server.count - before == 6
    dataset = datasets.load_from_disk(str(tmp_path / "dataset"))
    ids = list(dataset["train"]["id"]) + list(dataset["rejected"]["id"])
    assert len(ids) == len(set(ids)) == 10
    assert "pair/s" in rerun.stderr  # the progress bar's rate (ETA beside it)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["config"]["backend"]["backend"] == "http"
    everything = rerun.stdout + rerun.stderr + (tmp_path / "README.md").read_text() + json.dumps(info)
    assert "sk-secret-for-test" not in everything


def test_two_processes_share_the_rows_and_write_each_once(tmp_path):
    """`accelerate launch` with two CPU processes: each rank takes its share, rank 0 saves the dataset."""
    with FaultServer(lambda body: "Move the shape.") as server:
        args = synthesize_command(server.base_url, tmp_path)[5:]  # the flags after `synthesize caption`
        launch_cpu(REPO_ROOT / "src" / "edit_handbook" / "synthesize.py", ["--task", "caption", *args])
        assert server.count == 10
    ranks = {path.name[:12] for path in (tmp_path / "shards").glob("shard-*.parquet")}
    assert ranks == {"shard-r00000", "shard-r00001"}
    dataset = datasets.load_from_disk(str(tmp_path / "dataset"))
    assert sorted(dataset["train"]["id"]) == [f"synthetic-0-{i:06d}" for i in range(10)]
