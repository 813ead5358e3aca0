"""The pairs an instruction-quality evaluation runs on: HQ-Edit, ByteMorph-Bench, a local Eval-400-style folder.

HQ-Edit and ByteMorph-Bench load by Hub id (or a local copy in the same column layout) through the data
presets (`edit_handbook.data.presets`), validated like any training data. EditCaption's Eval-400 is not public;
any local set of pairs in its spirit is a folder laid out as

    <folder>/pairs.jsonl     one JSON object per line:
                             {"source_image": "imgs/001_src.png", "target_image": "imgs/001_tgt.png",
                              "id": "001", "instruction": "optional reference", "edit_type": "optional"}
    <folder>/imgs/...        the images, paths relative to the folder

`source_image` and `target_image` are required; `id` defaults to the line number; `instruction` (a human
reference, shown in reports) and `edit_type` (reports group by it) are optional. Unlike training data the
pairs need no instruction: the captioners under evaluation write them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
from PIL import Image, UnidentifiedImageError

from edit_handbook.data import schema
from edit_handbook.data.loading import load_edit_pairs


EVAL_FOLDER_FILE = "pairs.jsonl"
BENCHMARK_PRESETS = ("hq-edit", "bytemorph-bench")
_OPTIONAL_TEXT = (schema.ID, schema.INSTRUCTION, schema.EDIT_TYPE)


def is_eval_folder(source: Any) -> bool:
    return isinstance(source, str | Path) and (Path(source) / EVAL_FOLDER_FILE).is_file()


def _check_line(folder: Path, number: int, record: Any) -> list[str]:
    """Problems of one line of `pairs.jsonl`, each naming the line, the field and the fix."""
    where = f"{folder / EVAL_FOLDER_FILE} line {number}"
    if not isinstance(record, dict):
        return [f"{where}: expected a JSON object, got {type(record).__name__}"]
    problems = []
    for name in schema.IMAGE_COLUMNS:
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}, field {name!r}: missing; write the image path relative to {folder}")
            continue
        path = folder / value
        try:
            with Image.open(path) as image:
                image.verify()
        except FileNotFoundError:
            problems.append(f"{where}, field {name!r}: no file {path}; fix the path (relative to {folder})")
        except (UnidentifiedImageError, OSError) as error:
            problems.append(f"{where}, field {name!r}: {path} is not a readable image ({error})")
    for name in _OPTIONAL_TEXT:
        if record.get(name) is not None and not isinstance(record[name], str):
            problems.append(f"{where}, field {name!r}: must be text, got {type(record[name]).__name__}")
    return problems


def load_eval_folder(folder: str | Path) -> datasets.Dataset:
    """The pairs of an Eval-400-style folder (layout in the module docstring); one error lists every bad line."""
    folder = Path(folder)
    path = folder / EVAL_FOLDER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no {EVAL_FOLDER_FILE}; see edit_handbook.evaluation.benchmarks")
    records, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{path} line {number}: not JSON ({error.msg} at column {error.colno}); fix the line")
            continue
        found = _check_line(folder, number, record)
        problems += found
        if not found:
            records.append((number, record))
    if problems:
        raise ValueError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(problems))
    if not records:
        raise ValueError(f"{path} holds no pairs; write one JSON object per line")
    ids = [record.get(schema.ID) or f"line-{number}" for number, record in records]
    repeated = sorted({row_id for row_id in ids if ids.count(row_id) > 1})
    if repeated:
        raise ValueError(f"{path}: ids {repeated[:5]} repeat; give every pair its own id")
    columns = {
        schema.ID: ids,
        **{name: [str(folder / record[name]) for _, record in records] for name in schema.IMAGE_COLUMNS},
        **{name: [record.get(name) for _, record in records] for name in (schema.INSTRUCTION, schema.EDIT_TYPE)},
    }
    features = datasets.Features(
        {
            schema.ID: datasets.Value("string"),
            **{name: datasets.Image(mode="RGB") for name in schema.IMAGE_COLUMNS},
            schema.INSTRUCTION: datasets.Value("string"),
            schema.EDIT_TYPE: datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_dict(columns, features=features)


def load_pairs(load_kwargs: dict[str, Any], max_pairs: int | None = None) -> datasets.Dataset:
    """Pairs from an Eval-400-style folder or anything `load_edit_pairs` reads (HQ-Edit, ByteMorph-Bench via
    `preset`, a local copy in their layout, synthetic pairs); the first `max_pairs` rows when given."""
    source = load_kwargs.get("source")
    if is_eval_folder(source):
        dataset = load_eval_folder(source)
    else:
        dataset, report = load_edit_pairs(**load_kwargs)
        print(report.summary())
    if not isinstance(dataset, datasets.Dataset):
        raise ValueError("evaluation needs a map-style dataset: set dataset_streaming to false")
    if max_pairs is not None and max_pairs < len(dataset):
        dataset = dataset.select(range(max_pairs))
    return dataset
