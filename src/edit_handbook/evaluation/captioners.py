"""The captioners under evaluation, named by one string each, and the instructions they write.

A spec is `[name=]source`, where source is
- `column:<name>`: instructions that already exist in a dataset column (e.g. `column:instruction`, a
  benchmark's own instructions, or a synthesis output's `rectified_instruction`);
- `http:<model>`: a model behind an OpenAI-compatible server (vLLM, `transformers serve`, GPT-4o) at the
  configured base URL;
- anything else: a local checkpoint folder or Hub id (`tiny:qwen3-vl` for the tiny CPU model), run in this
  process.
Model captioners are asked with the synthesis engine's `caption` task on the shared backends, i.e. with the
exact prompt a fine-tuned captioner was trained on (`editcaption.prompts`), greedily.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import datasets

from edit_handbook.synth.backends import Backend
from edit_handbook.synth.tasks import FAILED, REASON, STATUS, CaptionTask


COLUMN, HTTP, LOCAL = "column", "http", "local"


@dataclass(frozen=True)
class CaptionerSpec:
    name: str
    kind: str  # column | http | local
    target: str  # the column, the served model name, or the checkpoint

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "target": self.target}


def parse_captioner(text: str) -> CaptionerSpec:
    """`[name=]column:<col>` | `[name=]http:<model>` | `[name=]<checkpoint or Hub id>`."""
    name, _, source = text.partition("=") if "=" in text.split(":", 1)[0] else ("", "", text)
    source = source.strip()
    kind, _, target = source.partition(":")
    if kind in (COLUMN, HTTP):
        if not target.strip():
            raise ValueError(f"captioner {text!r}: write {kind}:<{'column' if kind == COLUMN else 'model'} name>")
        return CaptionerSpec(name.strip() or source, kind, target.strip())
    if not source:
        raise ValueError(f"captioner {text!r} names no source; see edit_handbook.evaluation.captioners")
    return CaptionerSpec(name.strip() or source, LOCAL, source)


def parse_captioners(texts: list[str]) -> list[CaptionerSpec]:
    specs = [parse_captioner(text) for text in texts]
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"captioners {repeated} appear twice; name them apart with name=source")
    return specs


def column_instructions(dataset: datasets.Dataset, column: str) -> tuple[list[str | None], list[str | None]]:
    """A dataset column's instructions; an empty cell is an error of that row, never an empty instruction."""
    if column not in dataset.column_names:
        raise ValueError(f"captioner column:{column}: no such column; the data has {', '.join(dataset.column_names)}")
    values = dataset[column]
    texts = [value.strip() if isinstance(value, str) and value.strip() else None for value in values]
    return texts, [None if text else f"row has no text in column {column!r}" for text in texts]


def model_instructions(
    dataset: datasets.Dataset, backend: Backend, chunk_size: int = 64, max_new_tokens: int | None = None
) -> tuple[list[str | None], list[str | None]]:
    """The `caption` answers of `backend` for every pair (None with the reason where it failed)."""
    task = CaptionTask(max_new_tokens)
    texts: list[str | None] = []
    errors: list[str | None] = []
    for start in range(0, len(dataset), chunk_size):
        rows = list(dataset.select(range(start, min(start + chunk_size, len(dataset)))))
        for row in rows:
            row["instruction"] = None  # a captioner never sees the reference instruction
        for outcome in task(rows, backend):
            failed = outcome[STATUS] == FAILED
            texts.append(None if failed else outcome["instruction"])
            errors.append(outcome[REASON] if failed else None)
    return texts, errors


def write_instructions(
    spec: CaptionerSpec, dataset: datasets.Dataset, make_backend: Callable[[CaptionerSpec], Backend]
) -> tuple[list[str | None], list[str | None], dict]:
    """(instructions, errors, what to record about the captioner); a model's backend is freed afterwards."""
    if spec.kind == COLUMN:
        return (*column_instructions(dataset, spec.target), spec.describe())
    backend = make_backend(spec)
    texts, errors = model_instructions(dataset, backend)
    described = {**spec.describe(), **backend.describe()}
    del backend
    gc.collect()
    return texts, errors, described
