"""The resumable sharded writer: round trips, resume, dedup, ranks, and surviving kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from edit_handbook.data.writer import ShardedWriter, list_shards, load_shards, split_ids


WORKER = Path(__file__).with_name("writer_worker.py")
SRC = Path(__file__).resolve().parents[2] / "src"

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "image": datasets.Image(),
        "embedding": datasets.List(datasets.Value("float32"), length=8),
        "latent": datasets.Array3D(shape=(2, 3, 4), dtype="float16"),
        "scores": datasets.List(datasets.Value("float16")),
        "failure": datasets.Value("string"),
    }
)
SIMPLE = datasets.Features({"id": datasets.Value("string"), "value": datasets.Value("int64")})


def rich_row(index: int) -> dict[str, object]:
    rng = np.random.default_rng(index)
    return {
        "id": f"r{index}",
        "image": Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)),
        "embedding": rng.standard_normal(8).astype(np.float32),
        "latent": rng.standard_normal((2, 3, 4)).astype(np.float16),
        "scores": rng.standard_normal(index % 3 + 1).astype(np.float16),
        "failure": None if index % 2 else "judge timed out",
    }


def simple_writer(folder: Path, **kwargs: object) -> ShardedWriter:
    kwargs = {"fingerprint": "fp", "shard_size": 2, "rank": 0, "world_size": 1, **kwargs}
    return ShardedWriter(folder, SIMPLE, **kwargs)


def test_round_trip_images_and_arrays_exactly(tmp_path: Path) -> None:
    rows = [rich_row(index) for index in range(5)]
    with ShardedWriter(tmp_path, FEATURES, fingerprint="fp", shard_size=2, rank=0, world_size=1) as writer:
        writer.write_many(rows)
        assert writer.num_done == 5
    assert len(list_shards(tmp_path)) == 3

    dataset = load_shards(tmp_path)
    assert dataset.features == FEATURES
    for row, loaded in zip(rows, dataset, strict=True):
        assert loaded["id"] == row["id"]
        assert np.array_equal(np.asarray(loaded["image"]), np.asarray(row["image"]))
        assert np.array_equal(np.asarray(loaded["embedding"], dtype=np.float32), row["embedding"])
        assert np.array_equal(np.asarray(loaded["latent"], dtype=np.float16), row["latent"])
        assert np.array_equal(np.asarray(loaded["scores"], dtype=np.float16), row["scores"])
        assert loaded["failure"] == row["failure"]


def test_to_dataset_orders_by_given_ids_and_rejects_missing(tmp_path: Path) -> None:
    writer = simple_writer(tmp_path)
    writer.write_many({"id": f"r{i}", "value": i} for i in range(4))
    assert writer.to_dataset(order=["r2", "r0", "r3", "r1"])["value"] == [2, 0, 3, 1]
    with pytest.raises(KeyError, match="r9"):
        writer.to_dataset(order=["r0", "r9"])


def test_resume_after_unclosed_writer_loses_only_the_buffer(tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(5)]
    crashed = simple_writer(tmp_path)
    for row_id in ids:
        crashed.write({"id": row_id, "value": 1})  # never closed: the fifth row stays in the buffer
    resumed = simple_writer(tmp_path)
    assert resumed.done_ids() == set(ids[:4])
    assert resumed.pending(ids) == ["r4"]
    assert resumed.write({"id": "r0", "value": 2}) is False
    resumed.write({"id": "r4", "value": 1})
    resumed.close()
    assert sorted(load_shards(tmp_path)["id"]) == ids


def test_duplicate_ids_first_complete_shard_wins(tmp_path: Path) -> None:
    # Two ranks that opened with different done sets can both write an id.
    rank1 = simple_writer(tmp_path, rank=1, world_size=2)
    rank0 = simple_writer(tmp_path, rank=0, world_size=2)
    rank1.write_many([{"id": "a", "value": 1}, {"id": "b", "value": 1}])
    rank0.write_many([{"id": "b", "value": 0}, {"id": "c", "value": 0}])
    dataset = load_shards(tmp_path)
    assert dict(zip(dataset["id"], dataset["value"], strict=True)) == {"a": 1, "b": 0, "c": 0}


def test_fingerprint_mismatch_names_both_and_the_fix(tmp_path: Path) -> None:
    simple_writer(tmp_path, fingerprint="model-a").write_many([{"id": "x", "value": 1}, {"id": "y", "value": 1}])
    with pytest.raises(ValueError, match="model-a") as error:
        simple_writer(tmp_path, fingerprint="model-b")
    assert "model-b" in str(error.value) and "overwrite=True" in str(error.value)

    fresh = simple_writer(tmp_path, fingerprint="model-b", overwrite=True)
    assert fresh.num_done == 0 and list_shards(tmp_path) == []


def test_changed_features_are_refused(tmp_path: Path) -> None:
    simple_writer(tmp_path).close()
    other = datasets.Features({"id": datasets.Value("string"), "value": datasets.Value("float32")})
    with pytest.raises(ValueError, match="features"):
        ShardedWriter(tmp_path, other, fingerprint="fp", rank=0, world_size=1)


def test_bad_rows_fail_at_write(tmp_path: Path) -> None:
    writer = simple_writer(tmp_path)
    with pytest.raises(TypeError, match="must be a str"):
        writer.write({"id": 3, "value": 1})
    with pytest.raises(ValueError, match=r"missing columns \['value'\], unexpected columns \['extra'\]"):
        writer.write({"id": "a", "extra": 1})


def test_two_ranks_split_pending_ids_and_see_each_other(tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(9)]
    simple_writer(tmp_path).write_many([{"id": "r0", "value": 0}, {"id": "r1", "value": 0}])
    ranks = [simple_writer(tmp_path, rank=rank, world_size=2) for rank in range(2)]
    shares = [writer.pending_for_rank(ids) for writer in ranks]
    assert shares == [["r2", "r4", "r6", "r8"], ["r3", "r5", "r7"]]
    for writer, share in zip(ranks, shares, strict=True):
        writer.write_many({"id": row_id, "value": writer.rank} for row_id in share)
        writer.close()
    assert ranks[0].done_ids() == set(ids)
    assert {path.name[:12] for path in list_shards(tmp_path)} == {"shard-r00000", "shard-r00001"}
    assert sorted(load_shards(tmp_path)["id"]) == ids


def test_split_ids_padding_keeps_ranks_in_step(tmp_path: Path) -> None:
    ids = ["a", "b", "c", "d", "e"]
    assert [split_ids(ids, rank, 2, pad=True) for rank in range(2)] == [["a", "c", "e"], ["b", "d", "b"]]
    assert [split_ids(["a", "b"], rank, 4, pad=True) for rank in range(4)] == [["a"], ["b"], ["a"], ["a"]]
    assert split_ids([], 1, 2, pad=True) == []
    writer = simple_writer(tmp_path, rank=1, world_size=2)
    assert [writer.write({"id": row_id, "value": 1}) for row_id in split_ids(ids, 1, 2, pad=True)] == [
        True,
        True,
        False,
    ]


def test_rank_defaults_to_accelerate_single_process(tmp_path: Path) -> None:
    writer = ShardedWriter(tmp_path, SIMPLE, fingerprint="fp")
    assert (writer.rank, writer.world_size) == (0, 1)


def test_stray_tmp_files_are_removed_or_ignored(tmp_path: Path) -> None:
    simple_writer(tmp_path).write_many([{"id": "a", "value": 1}, {"id": "b", "value": 1}])
    own = tmp_path / "shard-r00000-000001.parquet.r00000.tmp"
    other_rank = tmp_path / "shard-r00001-000000.parquet.r00001.tmp"
    own.write_bytes(b"PAR1 half a shard")
    other_rank.write_bytes(b"PAR1 half a shard")
    writer = simple_writer(tmp_path)
    assert not own.exists() and other_rank.exists()
    assert writer.done_ids() == {"a", "b"}
    assert load_shards(tmp_path)["id"] == ["a", "b"]


def run_worker(out_dir: Path, pause: str, ready: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, str(WORKER), str(out_dir), "23", "4", pause, str(ready)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


def test_kill_9_at_any_point_then_rerun_until_done(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    # Fresh folder first: killed before the metadata file is renamed into place. Then, each on a
    # resumed run: mid-buffer, before a shard's fsync, before its rename, before the folder's fsync.
    # A kill before a rename leaves a tmp file, which the next run removes.
    pauses = {"replace:1": True, "row:6": False, "fsync:1": True, "replace:2": True, "fsync:4": False}
    for pause, leaves_tmp in pauses.items():
        ready = tmp_path / f"ready-{pause.replace(':', '-')}"
        process = run_worker(out_dir, pause, ready)
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, f"worker exited early at {pause}: {process.stderr.read().decode()}"
            assert time.monotonic() < deadline, f"worker never reached {pause}"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
        for shard in list_shards(out_dir):  # every visible shard is complete
            pq.read_table(shard)
        assert any(path.name.endswith(".tmp") for path in out_dir.iterdir()) == leaves_tmp, pause

    finished = run_worker(out_dir, "none", tmp_path / "unused")
    _, stderr = finished.communicate(timeout=60)
    assert finished.returncode == 0, stderr.decode()

    assert not any(path.name.endswith(".tmp") for path in out_dir.iterdir())
    dataset = load_shards(out_dir)
    assert sorted(dataset["id"]) == [f"row-{i:04d}" for i in range(23)]
    for row in dataset:
        index = int(row["id"].removeprefix("row-"))
        expected = np.array([index, index / 3, -index], dtype=np.float32)
        assert np.array_equal(np.asarray(row["vector"], dtype=np.float32), expected)


def test_write_file_atomically_leaves_the_old_file_or_none_on_failure(tmp_path):
    from edit_handbook.data.writer import write_file_atomically

    target = tmp_path / "reply.json"
    write_file_atomically(target, lambda file: file.write(b"old"))

    def fails(file):
        file.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_file_atomically(target, fails)
    assert target.read_bytes() == b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["reply.json"]  # no temporary left behind


def test_redo_removes_marked_rows_so_they_are_pending_again(tmp_path: Path) -> None:
    with simple_writer(tmp_path) as writer:
        writer.write_many({"id": f"r{i}", "value": i} for i in range(5))  # shards: r0 r1 | r2 r3 | r4

    def odd_or_four(table):
        return [value % 2 == 1 or value == 4 for value in table.column("value").to_pylist()]

    writer = simple_writer(tmp_path, redo=odd_or_four, redo_columns=["value"])
    assert writer.pending([f"r{i}" for i in range(5)]) == ["r1", "r3", "r4"]
    shards = list_shards(tmp_path)  # r4's shard is gone, the others rewritten without the marked rows
    assert [pq.read_table(path).column("id").to_pylist() for path in shards] == [["r0"], ["r2"]]
    writer.write_many({"id": f"r{i}", "value": 10 * i} for i in (1, 3, 4))
    writer.close()
    assert list(load_shards(tmp_path, order=[f"r{i}" for i in range(5)])["value"]) == [0, 10, 2, 30, 40]
