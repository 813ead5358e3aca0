"""Run a synthesis task over a dataset through the resumable writer, then save the result with its card.

Rows go to the backend in chunks and come back to `ShardedWriter` as they finish, so a run killed at any
moment (`kill -9` included) and started again with the same command computes only the rows that are not in
a complete shard yet: every input row ends up in the output exactly once. The same command also sends again
the rows that failed for a transient reason (server down, timeouts, 429, 5xx after every retry); rows whose
answer was unusable stay failed unless `retry_failed="all"`. The final dataset is saved atomically: a kill
during the save leaves the previous output loadable. The output is a `DatasetDict`:
`train` holds the rows whose status is "ok", `rejected` every other row with its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import datasets
from accelerate import PartialState
from tqdm.auto import tqdm

from edit_handbook.data import schema
from edit_handbook.data.writer import ShardedWriter, load_shards, save_dataset_atomically
from edit_handbook.hub.cards import dataset_card, write_card
from edit_handbook.synth.backends import TRANSIENT, Backend, is_transient
from edit_handbook.synth.prompts import prompt_version
from edit_handbook.synth.tasks import FAILED, OK, REASON, STATUS, STATUS_COLUMNS, Task, fingerprint_settings


SHARDS, DATASET = "shards", "dataset"
RETRY_FAILED = ("transient", "all", "none")


@dataclass
class SynthesisResult:
    dataset: datasets.DatasetDict
    counts: dict[str, int]
    summary: dict[str, Any]
    folder: Path


def with_ids(dataset: datasets.Dataset) -> datasets.Dataset:
    """Rows need a stable string id to resume by: the row index when the dataset has none."""
    if schema.ID in dataset.column_names and None not in dataset[schema.ID]:
        return dataset
    if schema.ID in dataset.column_names:
        dataset = dataset.remove_columns(schema.ID)
    return dataset.add_column(schema.ID, [f"row-{index:08d}" for index in range(len(dataset))])


def _undecoded(dataset: datasets.Dataset) -> datasets.Dataset:
    """Images stay encoded bytes on their way to the writer (decoded only for the backend)."""
    for column in schema.IMAGE_COLUMNS:
        if column in dataset.features:
            dataset = dataset.cast_column(column, datasets.Image(decode=False))
    return dataset


def output_features(dataset: datasets.Dataset, task: Task) -> datasets.Features:
    features = dict(_undecoded(dataset).features)
    features.update(task.columns)
    features.update(STATUS_COLUMNS)
    return datasets.Features(features)


def job_fingerprint(dataset: datasets.Dataset, task: Task, backend: Backend) -> str:
    """Same data, task settings, backend model and prompts -> same job (and a resumable folder)."""
    described = backend.describe()
    model = {"backend": described["backend"], "model": described["model"]}  # not the URL, batch size, timeouts
    key = json.dumps([dataset._fingerprint, fingerprint_settings(task), model, prompt_version()], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def outcome_counts(dataset: datasets.Dataset) -> dict[str, int]:
    """Rows by status, and by status and kind of reason ("rejected: judge score N below threshold N")."""
    counts = Counter(dataset[STATUS])
    for status, reason in zip(dataset[STATUS], dataset[REASON]):
        if status != OK:
            transient = is_transient(reason)
            text = reason[len(TRANSIENT) :] if transient else reason
            kind = re.sub(r"\d+(\.\d+)?", "N", text.split(":")[0].split(" (")[0])[:60]
            counts[f"{status}: {TRANSIENT if transient else ''}{kind}"] += 1
    return dict(sorted(counts.items()))


def failed_rows(table, *, transient_only: bool) -> list[bool]:
    """Which rows of a written shard failed (only transiently, with `transient_only`): those are redone."""
    statuses, reasons = table.column(STATUS).to_pylist(), table.column(REASON).to_pylist()
    return [
        status == FAILED and (not transient_only or is_transient(reason)) for status, reason in zip(statuses, reasons)
    ]


def run_task(
    dataset: datasets.Dataset,
    task: Task,
    backend: Backend,
    output_dir: str | Path,
    *,
    chunk_size: int = 32,
    shard_size: int = 256,
    overwrite: bool = False,
    retry_failed: str = "transient",
    progress: bool = True,
) -> datasets.Dataset:
    """Process every pending row of `dataset` and return all rows (each id once, in input order).

    `retry_failed` picks the failed rows of an earlier run that are computed again: "transient" (the
    default), "all" (unusable answers too) or "none".
    """
    if retry_failed not in RETRY_FAILED:
        raise ValueError(f"retry_failed={retry_failed!r}; choose one of: {', '.join(RETRY_FAILED)}")
    dataset = with_ids(dataset)
    features = output_features(dataset, task)
    raw = _undecoded(dataset)
    ids = raw[schema.ID]
    position = {row_id: index for index, row_id in enumerate(ids)}
    if len(position) != len(ids):
        counts = Counter(ids)
        repeated = [row_id for row_id, count in counts.items() if count > 1]
        shown = ", ".join(
            f"{row_id!r} (rows {[i for i, x in enumerate(ids) if x == row_id][:5]})" for row_id in repeated[:5]
        )
        raise ValueError(
            f"column 'id': ids must be unique to resume by; {len(repeated)} are repeated: {shown}"
            f"{' ...' if len(repeated) > 5 else ''}; make them unique, or drop the id column (rows are then "
            "numbered)"
        )
    decode = datasets.Image()
    shards = Path(output_dir) / SHARDS
    fingerprint = job_fingerprint(dataset, task, backend)
    with ShardedWriter(
        shards,
        features,
        fingerprint=fingerprint,
        shard_size=shard_size,
        overwrite=overwrite,
        redo=None if retry_failed == "none" else partial(failed_rows, transient_only=retry_failed == "transient"),
        redo_columns=(STATUS, REASON),
    ) as writer:
        pending = writer.pending_for_rank(ids)
        bar = tqdm(total=len(ids), initial=len(ids) - len(pending), unit="pair", desc=task.name, disable=not progress)
        for start in range(0, len(pending), chunk_size):
            rows = raw.select([position[row_id] for row_id in pending[start : start + chunk_size]]).to_list()
            decoded = [
                {**row, **{c: decode.decode_example(row[c]) for c in schema.IMAGE_COLUMNS if c in row}} for row in rows
            ]
            for row, outcome in zip(rows, task(decoded, backend)):
                writer.write({**row, **outcome})
            bar.update(len(rows))
        bar.close()
    PartialState().wait_for_everyone()  # every rank's shards are complete before anyone reads them
    return load_shards(shards, order=ids)


def split_by_status(rows: datasets.Dataset) -> datasets.DatasetDict:
    """`train` = rows with status ok, `rejected` = the others, images decodable again."""
    for column in schema.IMAGE_COLUMNS:
        if column in rows.features:
            rows = rows.cast_column(column, datasets.Image())
    # `filter`, not `select`: an empty in-memory selection saves as zero shards, which `load_from_disk` rejects.
    return datasets.DatasetDict(
        train=rows.filter(lambda status: status == OK, input_columns=[STATUS]),
        rejected=rows.filter(lambda status: status != OK, input_columns=[STATUS]),
    )


def save_result(
    rows: datasets.Dataset, task: Task, backend: Backend, folder: str | Path, run_info: dict | None = None
) -> SynthesisResult:
    """Save `train`/`rejected` with `save_to_disk` and a dataset card (prompt version, model, counts)."""
    folder = Path(folder)
    result = split_by_status(rows)
    counts = outcome_counts(rows)
    summary = task.summary(rows)
    save_dataset_atomically(result, folder / DATASET)
    described = backend.describe()
    write_card(
        folder,
        dataset_card(
            name=f"edit-handbook synthesis: {task.name}",
            description=(
                f"Edit pairs processed by the `{task.name}` task of edit-handbook's synthesis engine. `train` holds "
                "the rows whose `synthesis_status` is `ok`; `rejected` holds every other input row with its "
                f"`synthesis_reason`. Backend: `{described['backend']}`, model: `{described['model']}`.\n\n"
                f"Task figures: `{json.dumps(summary, sort_keys=True)}`"
            ),
            columns={name: schema.describe_feature(feature) for name, feature in result["train"].features.items()},
            num_rows={split: len(part) for split, part in result.items()},
            provenance=f"Task settings: `{fingerprint_settings(task)}`; backend: `{json.dumps(described)}`.",
            prompt_version=prompt_version(),
            counts=counts,
            run_info=run_info,
        ),
    )
    return SynthesisResult(dataset=result, counts=counts, summary=summary, folder=folder)


def push_result(result: SynthesisResult, repo_id: str, *, private: bool | None = None) -> str:
    """Push both splits as Parquet, then the card (which replaces the auto-generated one); returns the URL."""
    from huggingface_hub import HfApi

    result.dataset.push_to_hub(repo_id, private=private)
    commit = HfApi().upload_file(
        path_or_fileobj=str(result.folder / "README.md"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
    )
    return commit.commit_url
