"""A resumable job for the kill -9 test: writes rows `row-0000`.. through `ShardedWriter`.

    python writer_worker.py OUT_DIR NUM_ROWS SHARD_SIZE PAUSE READY_FILE

PAUSE says where to stop so the test can SIGKILL at a known point: `none` runs to the end;
`row:K` stops after the K-th `write` of this run; `fsync:K` / `replace:K` stop just before the
K-th `os.fsync` / `os.replace` call, i.e. with a shard's tmp file written but not yet durable or
not yet renamed. On stopping it creates READY_FILE and sleeps until killed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np

from edit_handbook.data.writer import ShardedWriter


FEATURES = datasets.Features(
    {"id": datasets.Value("string"), "vector": datasets.List(datasets.Value("float32"), length=3)}
)


def make_row(index: int) -> dict[str, object]:
    """Deterministic content, so the test can check values as well as ids."""
    return {"id": f"row-{index:04d}", "vector": np.array([index, index / 3, -index], dtype=np.float32)}


def pause(ready_file: Path) -> None:
    ready_file.touch()
    while True:
        time.sleep(60)


def pause_before_call(name: str, nth: int, ready_file: Path) -> None:
    """Replace `os.<name>` with a wrapper that pauses before its `nth` call."""
    original: Callable[..., object] = getattr(os, name)
    calls = 0

    def wrapper(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == nth:
            pause(ready_file)
        return original(*args)

    setattr(os, name, wrapper)


def main() -> None:
    out_dir, num_rows, shard_size, stop, ready_file = sys.argv[1:]
    kind, _, count = stop.partition(":")
    if kind in ("fsync", "replace"):
        pause_before_call(kind, int(count), Path(ready_file))
    all_ids = [f"row-{index:04d}" for index in range(int(num_rows))]
    with ShardedWriter(
        out_dir, FEATURES, fingerprint="worker-v1", shard_size=int(shard_size), rank=0, world_size=1
    ) as w:
        for written, row_id in enumerate(w.pending(all_ids), start=1):
            w.write(make_row(int(row_id.removeprefix("row-"))))
            if kind == "row" and written == int(count):
                pause(Path(ready_file))


if __name__ == "__main__":
    main()
