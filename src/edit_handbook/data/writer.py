"""A resumable, sharded Parquet writer for long per-row jobs.

Instruction synthesis, the DPO reference log-prob pass and the SuperEdit latent/embedding caches
all compute one row per id for hours. They write through `ShardedWriter` so that a run killed at
any moment (even `kill -9` in the middle of a write) is resumed by starting the same command again:

    with ShardedWriter(out_dir, features, fingerprint=fp) as writer:
        for row_id in writer.pending_for_rank(all_ids):
            writer.write(compute(row_id))
    dataset = load_shards(out_dir)

How it stays correct:
- A shard is written to a `.tmp` file, fsynced, then `os.replace`d onto its final name, and the
  folder is fsynced. Readers only look at final names, so a shard is either complete or absent;
  a writer deletes its own rank's stray `.tmp` files when it opens.
- Rows still in the buffer when a run dies are simply recomputed: they are not in any shard.
- Each rank writes `shard-r{rank}-{seq}.parquet`, so ranks never touch each other's files, and
  `done_ids()` reads the id column of every rank's shards.
- Reading deduplicates ids with one rule: shards are read in name order (rank, then sequence) and
  the first complete shard holding an id wins; later copies are dropped.
- `writer.json` stores the job's fingerprint, id column and features; reopening the folder for a
  different job raises instead of mixing rows from two jobs.
- `redo` names finished rows to compute again (e.g. rows that failed for a transient reason): when the
  writer opens, rank 0 rewrites each shard holding such rows without them (atomically, so a kill leaves
  the old shard or the new one), and those ids are pending again.

`save_dataset_atomically` is the final step's counterpart: a `save_to_disk` folder replaced as a whole, so a
run killed while saving leaves the previous output loadable.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.table import InMemoryTable


METADATA_FILE = "writer.json"
_SHARD_RE = re.compile(r"^shard-r(\d{5})-(\d{6})\.parquet$")


def shard_name(rank: int, seq: int) -> str:
    """Final file name of a rank's `seq`-th shard; zero-padded so name order is (rank, seq) order."""
    return f"shard-r{rank:05d}-{seq:06d}.parquet"


def _rank_and_seq(path: Path) -> tuple[int, int]:
    """Rank and sequence number of a complete shard, parsed from its name."""
    match = _SHARD_RE.match(path.name)
    assert match is not None, path
    return int(match.group(1)), int(match.group(2))


def list_shards(output_dir: str | os.PathLike) -> list[Path]:
    """Complete shards of every rank, in the order that decides which copy of an id wins."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if _SHARD_RE.match(path.name))


def split_ids(ids: Sequence[str], rank: int, world_size: int, *, pad: bool = False) -> list[str]:
    """The ids `rank` owns: every `world_size`-th id from `rank` on, the same on every rank.

    With `pad=True` every rank gets `ceil(len(ids) / world_size)` ids, so ranks that must step together
    (DeepSpeed ZeRO-3 runs each forward on all ranks) do the same number of steps. A short rank repeats
    its own first id, which `ShardedWriter.write` skips as already written; a rank with no id of its own
    repeats `ids[0]`, a duplicate that reading resolves (first complete shard wins).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    own = list(ids[rank::world_size])
    if pad and ids:
        missing = math.ceil(len(ids) / world_size) - len(own)
        own += (own or [ids[0]])[:1] * missing
    return own


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: the directory entry lives in the folder, not in the file."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, tmp: Path, write: Callable[[Any], None]) -> None:
    """Write `tmp`, fsync it, then `os.replace` it onto `path`, so `path` is never seen half-written."""
    with open(tmp, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_file_atomically(path: str | Path, write: Callable[[Any], None]) -> None:
    """`write(binary file)` to `path` through a unique temporary beside it: a run killed mid-write leaves the
    old file or none, never a truncated one that a resumed run would reuse."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        _write_atomically(path, Path(tmp), write)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_metadata(output_dir: Path) -> dict[str, Any] | None:
    path = output_dir / METADATA_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _normalized(features: datasets.Features) -> dict[str, Any]:
    """Features as they look after a JSON round trip (tuples become lists), for comparison."""
    return json.loads(json.dumps(features.to_dict()))


def _read_deduplicated(shards: list[Path], id_column: str) -> pa.Table | None:
    """All shards concatenated, keeping only the first occurrence of each id."""
    seen: set[str] = set()
    tables = []
    for path in shards:
        table = pq.read_table(path)
        keep = []
        for row_id in table.column(id_column).to_pylist():
            keep.append(row_id not in seen)
            seen.add(row_id)
        tables.append(table.filter(pa.array(keep, type=pa.bool_())))
    return pa.concat_tables(tables) if tables else None


def load_shards(output_dir: str | os.PathLike, order: Sequence[str] | None = None) -> datasets.Dataset:
    """The rows of a writer's folder as a `datasets.Dataset`, each id once.

    Without `order` rows come in shard order; with it, the dataset holds exactly those ids in that
    order, and a missing id raises (the job is not finished).
    """
    folder = Path(output_dir)
    metadata = _read_metadata(folder)
    if metadata is None:
        raise FileNotFoundError(f"{folder} has no {METADATA_FILE}; it was not written by ShardedWriter")
    features = datasets.Features.from_dict(metadata["features"])
    id_column = metadata["id_column"]
    table = _read_deduplicated(list_shards(folder), id_column)
    if table is None:
        table = features.arrow_schema.empty_table()
    if order is not None:
        position = {row_id: index for index, row_id in enumerate(table.column(id_column).to_pylist())}
        missing = [row_id for row_id in order if row_id not in position]
        if missing:
            raise KeyError(f"{len(missing)} ids of `order` are not in {folder}, e.g. {missing[:5]}")
        table = table.take(pa.array([position[row_id] for row_id in order], type=pa.int64()))
    return datasets.Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))


def _no_barrier() -> None:
    """Explicit ranks come without a way to wait for each other."""


def _accelerate_process() -> tuple[int, int, Callable[[], None]]:
    """Rank, world size and barrier from accelerate when it is installed, else a single process."""
    try:
        from accelerate import PartialState
    except ImportError:
        return 0, 1, _no_barrier
    state = PartialState()
    return state.process_index, state.num_processes, state.wait_for_everyone


class ShardedWriter:
    """Buffers rows and writes them as atomic Parquet shards; reopening the folder resumes the job.

    Args:
        output_dir: folder owned by this job (created if needed).
        features: `datasets.Features` of a row, including the id column. Images (`datasets.Image()`)
            and arrays (`List(Value("float32"), length=n)`, `Array2D`, ...) are encoded at `write`.
        fingerprint: identifies the job (e.g. a hash of model, data and config); a folder written
            under another fingerprint is refused unless `overwrite=True`.
        id_column: string column that identifies a row.
        shard_size: rows per shard; smaller loses less work on a crash, larger makes fewer files.
        rank, world_size: this process's rank. Leave both unset to take them from accelerate's
            `PartialState` (which also synchronizes opening); give both for plain multi-process use.
        overwrite: delete this folder's shards and metadata first (rank 0 does it). With explicit ranks
            there is no barrier, so other ranks must open after rank 0.
        overwrite_flag: how the user's command line says `overwrite`, named in the error for another job's folder.
        redo: `redo(shard table) -> one bool per row`; rows it marks are removed from their shard when the
            writer opens (rank 0 does it), so they are pending again.
        redo_columns: the columns `redo` reads; only those are read from shards with nothing to redo (a shard
            of images can be large).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        features: datasets.Features,
        *,
        fingerprint: str,
        id_column: str = "id",
        shard_size: int = 1000,
        rank: int | None = None,
        world_size: int | None = None,
        overwrite: bool = False,
        overwrite_flag: str = "--overwrite true",
        redo: Callable[[pa.Table], Sequence[bool]] | None = None,
        redo_columns: Sequence[str] | None = None,
    ) -> None:
        if id_column not in features:
            raise ValueError(f"features have no id column {id_column!r}; columns: {list(features)}")
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither to read them from accelerate")
        barrier = _no_barrier
        if rank is None or world_size is None:
            rank, world_size, barrier = _accelerate_process()
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")

        self.output_dir = Path(output_dir)
        self.features = features
        self.fingerprint = fingerprint
        self.id_column = id_column
        self.shard_size = shard_size
        self.overwrite_flag = overwrite_flag
        self.rank = rank
        self.world_size = world_size
        self._buffer: list[dict[str, Any]] = []
        self._shard_ids: dict[str, list[str]] = {}

        self.output_dir.mkdir(parents=True, exist_ok=True)
        if rank == 0:
            if overwrite:
                self._clear()
            self._check_or_write_metadata()
            if redo is not None:
                self._drop_rows(redo, redo_columns)
        barrier()
        if rank != 0:
            self._check_or_write_metadata()
        self._remove_own_tmp_files()
        self._done = self._scan()
        own_seqs = [seq for shard_rank, seq in map(_rank_and_seq, list_shards(self.output_dir)) if shard_rank == rank]
        self._next_seq = max(own_seqs, default=-1) + 1
        barrier()

    def _clear(self) -> None:
        for path in self.output_dir.iterdir():
            if _SHARD_RE.match(path.name) or path.name.endswith(".tmp") or path.name == METADATA_FILE:
                path.unlink()

    def _drop_rows(self, redo: Callable[[pa.Table], Sequence[bool]], columns: Sequence[str] | None) -> None:
        """Rewrite every shard holding rows `redo` marks without them (a shard left empty is deleted)."""
        for path in list_shards(self.output_dir):
            marked = list(redo(pq.read_table(path, columns=list(columns) if columns else None)))
            if not any(marked):
                continue
            table = pq.read_table(path)
            kept = table.filter(pa.array([not flag for flag in marked], type=pa.bool_()))
            if kept.num_rows:
                _write_atomically(path, self._tmp_path(path.name), lambda file, t=kept: pq.write_table(t, file))
            else:
                path.unlink()
                _fsync_dir(self.output_dir)

    def _check_or_write_metadata(self) -> None:
        wanted = {"fingerprint": self.fingerprint, "id_column": self.id_column, "features": _normalized(self.features)}
        found = _read_metadata(self.output_dir)
        if found is None:
            # Ranks that race here write identical content, each through its own tmp file.
            content = json.dumps(wanted, indent=2).encode()
            _write_atomically(
                self.output_dir / METADATA_FILE, self._tmp_path(METADATA_FILE), lambda f: f.write(content)
            )
            return
        if found["fingerprint"] != self.fingerprint:
            raise ValueError(
                f"{self.output_dir} holds rows of another job: its fingerprint is {found['fingerprint']!r}, "
                f"this job's is {self.fingerprint!r} (another model, task setting, prompt or data). Use a new output folder, or "
                f"pass overwrite=True (`{self.overwrite_flag}`) to delete the old rows."
            )
        if found["id_column"] != self.id_column or found["features"] != wanted["features"]:
            raise ValueError(
                f"{self.output_dir} was written with id column {found['id_column']!r} and features "
                f"{found['features']}, but this writer has id column {self.id_column!r} and features "
                f"{wanted['features']}. Use a new output folder, or pass overwrite=True."
            )

    def _tmp_path(self, name: str) -> Path:
        """Per-rank tmp name, so ranks never write or delete each other's unfinished files."""
        return self.output_dir / f"{name}.r{self.rank:05d}.tmp"

    def _remove_own_tmp_files(self) -> None:
        """Drop this rank's half-written files from a killed run (other ranks may be writing theirs)."""
        for path in self.output_dir.glob(f"*.r{self.rank:05d}.tmp"):
            path.unlink()

    def _scan(self) -> set[str]:
        """Ids in every complete shard; a shard's ids are read once, as shards never change."""
        for path in list_shards(self.output_dir):
            if path.name not in self._shard_ids:
                self._shard_ids[path.name] = pq.read_table(path, columns=[self.id_column]).column(0).to_pylist()
        return {row_id for ids in self._shard_ids.values() for row_id in ids}

    def done_ids(self) -> set[str]:
        """Ids finished by any rank so far (rescans the folder) plus this writer's buffered rows."""
        self._done |= self._scan()
        return set(self._done)

    @property
    def num_done(self) -> int:
        """Rows finished when this writer opened plus the ones it has written since (buffered included)."""
        return len(self._done)

    def pending(self, ids: Iterable[str]) -> list[str]:
        """The ids not yet done, in the given order.

        Call it before writing: every rank then sees the same done set (ranks open together) and
        `split_ids` gives each rank a disjoint share.
        """
        return [row_id for row_id in ids if row_id not in self._done]

    def pending_for_rank(self, ids: Sequence[str], *, pad: bool = False) -> list[str]:
        """This rank's share of `pending(ids)`; see `split_ids` for `pad`."""
        return split_ids(self.pending(ids), self.rank, self.world_size, pad=pad)

    def write(self, row: Mapping[str, Any]) -> bool:
        """Buffer one row, flushing every `shard_size` rows.

        Returns False, writing nothing, when the id is already done, so a resumed or padded loop can
        write unconditionally. Encoding happens here, so a bad row fails at its own `write`.
        """
        row_id = row.get(self.id_column)
        if not isinstance(row_id, str):
            raise TypeError(f"row id column {self.id_column!r} must be a str, got {row_id!r}")
        if row.keys() != self.features.keys():
            missing = sorted(set(self.features) - set(row))
            unexpected = sorted(set(row) - set(self.features))
            raise ValueError(f"row {row_id!r}: missing columns {missing}, unexpected columns {unexpected}")
        if row_id in self._done:
            return False
        self._buffer.append(self.features.encode_example(row))
        self._done.add(row_id)
        if len(self._buffer) >= self.shard_size:
            self.flush()
        return True

    def write_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write each row; returns how many were new."""
        return sum(self.write(row) for row in rows)

    def flush(self) -> None:
        """Write the buffered rows as one complete shard (no-op when empty)."""
        if not self._buffer:
            return
        columns = {name: [row[name] for row in self._buffer] for name in self.features}
        table = datasets.Dataset.from_dict(columns, features=self.features).data.table
        name = shard_name(self.rank, self._next_seq)
        _write_atomically(self.output_dir / name, self._tmp_path(name), lambda file: pq.write_table(table, file))
        self._shard_ids[name] = columns[self.id_column]
        self._next_seq += 1
        self._buffer = []

    def close(self) -> None:
        """Flush the last partial shard."""
        self.flush()

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Buffered rows are finished rows, worth keeping even when the loop raised.
        self.close()

    def to_dataset(self, order: Sequence[str] | None = None) -> datasets.Dataset:
        """Flush, then every rank's rows as a deduplicated `datasets.Dataset` (see `load_shards`)."""
        self.flush()
        return load_shards(self.output_dir, order)


def save_dataset_atomically(dataset: datasets.Dataset | datasets.DatasetDict, folder: str | os.PathLike) -> None:
    """`dataset.save_to_disk(folder)` that never leaves `folder` half-written.

    The dataset is saved beside `folder` under a temporary name, then swapped in: the old folder is renamed
    to `<name>.previous`, the new one to `<name>`, the old one deleted. A run killed during the (long) save
    leaves the previous output untouched; one killed between the two renames leaves `<name>.previous`, which
    the next save (or `restore_previous_dataset`) puts back.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    restore_previous_dataset(folder)
    for stale in folder.parent.glob(f".{folder.name}.saving-*"):  # left by runs killed mid-save
        if not _process_alive(int(stale.name.rsplit("-", 2)[-2])):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.saving-{os.getpid()}-"))
    try:
        dataset.save_to_disk(str(staging))
        previous = folder.with_name(folder.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        if folder.exists():
            folder.rename(previous)
        staging.rename(folder)
        _fsync_dir(folder.parent)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def restore_previous_dataset(folder: str | os.PathLike) -> None:
    """Put back `<folder>.previous` when a save was killed between its two renames (no `folder` left)."""
    folder = Path(folder)
    previous = folder.with_name(folder.name + ".previous")
    if previous.is_dir() and not folder.exists():
        previous.rename(folder)
