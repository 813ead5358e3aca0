"""Load edit pairs from the Hub, local files or the synthetic generator into the canonical schema, validated once.

Every source ends the same way: canonical columns first (images as `datasets.Image` features,
decoded as RGB), then any extra columns the source had, and a `ValidationReport`. Sources:
- a Hub id: `datasets.load_dataset(hub_id, config_name, split=...)`;
- a JSONL or CSV manifest (a file, or a folder holding `manifest.jsonl`/`.csv` or
  `metadata.jsonl`/`.csv`): image paths are relative to the manifest's folder, and a path that leaves it
  (absolute elsewhere, `../`, a symlink pointing out) is a bad row unless `allow_outside_paths=True`; a
  line that is not UTF-8 is a bad row too (named, and dropped with `on_error="skip"`);
- a Parquet file or a folder of them (string image paths relative to that folder);
- a `save_to_disk` folder (a Dataset or a DatasetDict);
- "synthetic": the embedded generator (`edit_handbook.data.synthetic`);
- a `datasets.Dataset`, `IterableDataset` or dict of splits already in memory.

A list in a single-text column (instruction, rectified_instruction, chosen, rejected) is read
as alternatives and keeps its first non-empty item; a plain string in `negative_instructions`
becomes a one-item list. No augmentation happens here, and none may flip images: a
horizontal flip silently falsifies every "left"/"right" in the instructions.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import datasets

from . import schema
from .presets import CANONICAL_COLUMNS, DatasetPreset, check_column_mapping, get_preset
from .schema import DEFAULT_MAX_PIXELS, SYNTHETIC
from .validation import (
    KINDS,
    ON_ERROR,
    VALIDATION_LEVELS,
    DataValidationError,
    Problem,
    ValidationReport,
    check_json_types,
    outside_paths,
    undecodable_text,
    validate_dataset,
    validate_stream,
)


# Where `edit-handbook generate` saves the dataset inside its output folder (beside the card and example grid).
GENERATED_SUBFOLDER = "dataset"

MANIFEST_NAMES = ("manifest.jsonl", "manifest.csv", "metadata.jsonl", "metadata.csv")
TEXT_COLUMNS = (schema.INSTRUCTION, schema.RECTIFIED, schema.CHOSEN, schema.REJECTED)

AnyDataset = datasets.Dataset | datasets.IterableDataset
Source = str | os.PathLike | AnyDataset | datasets.DatasetDict | datasets.IterableDatasetDict


def load_edit_pairs(
    source: Source | None = None,
    *,
    preset: str | DatasetPreset | None = None,
    column_mapping: Mapping[str, str] | None = None,
    split: str | None = None,
    kind: str = "edit",
    validation: str = "full",
    sample_size: int = 1000,
    on_error: str = "raise",
    num_proc: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    streaming: bool = False,
    seed: int = 0,
    config_name: str | None = None,
    cache_dir: str | None = None,
    synthetic_pairs: int = 256,
    synthetic_edit_types: Sequence[str] | None = None,
    synthetic_image_size: int = 256,
    allow_outside_paths: bool = False,
) -> tuple[AnyDataset, ValidationReport]:
    """Load, map onto the schema and validate; returns (dataset, report).

    `source` defaults to the preset's Hub id and `split` to the preset's split (else "train");
    `split` picks among the splits of a Hub dataset or a DatasetDict (a single file is one split).
    `column_mapping` goes canonical name -> source column and overrides the preset's entries.
    `kind` is "edit" (pairs + instruction) or "preference" (chosen/rejected + error labels).
    `validation` ("full" | "sample" | "off"), `sample_size`, `on_error` ("raise" | "skip"),
    `num_proc` and `max_pixels` are described in `edit_handbook.data.validation`; `seed` draws
    the sample and seeds the synthetic set of `synthetic_pairs` pairs (of `synthetic_edit_types`, all if unset,
    `synthetic_image_size` px). A folder written by `edit-handbook generate` is read as written. With `streaming` (or an
    IterableDataset source) rows are mapped and validated lazily as they are read. Image paths of
    local files in a manifest must stay inside its folder unless `allow_outside_paths` (checked at every
    validation level: it is about what may be read, not about cost).
    """
    _check_choice("kind", kind, KINDS)
    for name, value in (
        ("max_pixels", max_pixels),
        ("sample_size", sample_size),
        ("synthetic_pairs", synthetic_pairs),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if num_proc is not None and num_proc < 1:
        raise ValueError(f"num_proc must be a positive integer or unset, got {num_proc!r}")
    _check_choice("validation", validation, VALIDATION_LEVELS)
    _check_choice("on_error", on_error, ON_ERROR)
    chosen = get_preset(preset) if isinstance(preset, str) else preset
    mapping = {**(chosen.columns if chosen else {}), **(column_mapping or {})}
    check_column_mapping(mapping)
    if source is None:
        if chosen is None:
            raise ValueError("give a source (Hub id, local path, 'synthetic' or a Dataset) or a preset")
        source = chosen.hub_id
    split = split or (chosen.split if chosen else "train")
    report = ValidationReport(_describe(source), kind, validation, on_error)

    synthetic = {"num_pairs": synthetic_pairs, "edit_types": synthetic_edit_types, "image_size": synthetic_image_size}
    dataset, base_dir, known, from_manifest = _read(
        source, split, kind, streaming, seed, config_name, cache_dir, synthetic
    )
    if streaming and isinstance(dataset, datasets.Dataset):
        dataset = dataset.to_iterable_dataset()
    dataset = _stored_images(_with_features(dataset))
    dataset = apply_column_mapping(dataset, mapping, drop=chosen.ignored if chosen else ())
    dataset = _image_columns(_text_shapes(dataset), base_dir)
    confine = str(base_dir.resolve()) if from_manifest and base_dir and not allow_outside_paths else None
    if isinstance(dataset, datasets.IterableDataset):
        dataset = validate_stream(
            dataset, report, sample_size=sample_size, max_pixels=max_pixels, known=known, confine=confine
        )
    else:
        if confine is not None:
            known = {**outside_paths(dataset, confine), **known}
        dataset = validate_dataset(
            dataset, report, sample_size=sample_size, max_pixels=max_pixels, num_proc=num_proc, seed=seed, known=known
        )
    return _canonical(dataset), report


def apply_column_mapping(
    dataset: AnyDataset, column_mapping: Mapping[str, str], drop: tuple[str, ...] = ()
) -> AnyDataset:
    """Rename source columns to canonical names (one source may feed several), dropping `drop` columns.

    A column already named like a canonical target that the mapping fills from elsewhere is
    removed: the mapping wins.
    """
    names = list(dataset.features)
    for column in column_mapping.values():
        if column not in names:
            raise DataValidationError(
                None,
                column,
                f"missing column (the data has: {', '.join(names)})",
                "point column_mapping at an existing column, or pick the preset that matches this dataset",
            )
    sources = set(column_mapping.values())
    shadowed = [name for name, column in column_mapping.items() if name != column and name in names]
    unwanted = [name for name in (*drop, *shadowed) if name in names and name not in sources]
    if unwanted:
        dataset = dataset.remove_columns(list(dict.fromkeys(unwanted)))
    targets: dict[str, list[str]] = defaultdict(list)
    for name, column in column_mapping.items():
        targets[column].append(name)
    renames = {}
    for column, names_for_column in targets.items():
        kept = column if column in names_for_column else names_for_column[0]
        for name in names_for_column:
            if name != kept:
                dataset = _derive(dataset, name, column, _same, dataset.features[column])
        if kept != column:
            renames[column] = kept
    return dataset.rename_columns(renames) if renames else dataset


def _read(
    source: Source,
    split: str,
    kind: str,
    streaming: bool,
    seed: int,
    config_name: str | None,
    cache_dir: str | None,
    synthetic: dict[str, Any],
) -> tuple[AnyDataset, Path | None, dict[int, Problem], bool]:
    """The raw dataset, the folder its relative image paths start from, problems found while parsing, and
    whether it is a manifest (whose image paths must stay in its folder)."""
    if isinstance(source, datasets.DatasetDict | datasets.IterableDatasetDict):
        return _split(source, split), None, {}, False
    if isinstance(source, datasets.Dataset | datasets.IterableDataset):
        return source, None, {}, False
    if source == SYNTHETIC:
        return _synthetic(seed=seed, kind=kind, **synthetic), None, {}, False
    path = Path(source).expanduser()
    if path.is_dir() and (path / GENERATED_SUBFOLDER / "state.json").is_file():
        path = path / GENERATED_SUBFOLDER  # an `edit-handbook generate` output folder, as written
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            loaded = datasets.load_from_disk(str(path))
            return (_split(loaded, split) if isinstance(loaded, datasets.DatasetDict) else loaded), path, {}, False
        manifest = next((path / name for name in MANIFEST_NAMES if (path / name).is_file()), None)
        if manifest:
            return (*_read_manifest(manifest), True)
        parquet = sorted(path.rglob("*.parquet"))
        if not parquet:
            raise FileNotFoundError(
                f"{path} holds no manifest ({', '.join(MANIFEST_NAMES)}), no .parquet file and no save_to_disk data"
            )
        return _read_parquet(parquet, streaming, cache_dir), path, {}, False
    if path.is_file():
        if path.suffix in (".jsonl", ".csv"):
            return (*_read_manifest(path), True)
        if path.suffix == ".parquet":
            return _read_parquet([path], streaming, cache_dir), path.parent, {}, False
        raise ValueError(f"cannot read {path}: expected a .jsonl or .csv manifest, a .parquet file or a folder")
    if path.suffix in (".jsonl", ".csv", ".parquet") or str(source).startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such file or folder: {source}")
    try:
        loaded = datasets.load_dataset(str(source), config_name, split=split, streaming=streaming, cache_dir=cache_dir)
    except ConnectionError as error:
        raise FileNotFoundError(
            f"{source!r} is not a file or folder here, and the Hub cannot be reached to load it as a dataset id "
            f"({error}); check the path, or download the dataset while online (HF_HUB_OFFLINE unset) and rerun"
        ) from None
    return loaded, None, {}, False


def _split(dataset_dict: Mapping[str, AnyDataset], split: str) -> AnyDataset:
    if split not in dataset_dict:
        raise ValueError(f"no split {split!r}; the dataset has: {', '.join(dataset_dict)}")
    return dataset_dict[split]


def _synthetic(num_pairs: int, seed: int, kind: str, edit_types: Sequence[str] | None, image_size: int):
    from .synthetic import generate_dataset, preference_pairs

    pairs = generate_dataset(num_pairs, seed=seed, image_size=image_size, edit_types=edit_types)
    return preference_pairs(pairs) if kind == "preference" else pairs


def _read_parquet(files: list[Path], streaming: bool, cache_dir: str | None) -> AnyDataset:
    data_files = [str(file) for file in files]
    return datasets.load_dataset(
        "parquet", data_files=data_files, split="train", streaming=streaming, cache_dir=cache_dir
    )


def _read_manifest(path: Path) -> tuple[datasets.Dataset, Path, dict[int, Problem]]:
    """Manifests are small text files: parse them here so a bad line is a bad row, not a failed load.

    A line that is not JSON, a value with bytes that are not UTF-8 (read with `surrogateescape`, so one bad
    byte names its row instead of failing the file), or a value whose JSON type differs from the rest of its
    column (which Arrow cannot store), becomes a known problem of that row; its values are blanked so
    the table builds, and validation raises or drops it like any other bad row.
    """
    rows, known = _jsonl_rows(path) if path.suffix == ".jsonl" else _csv_rows(path)
    for row, record in enumerate(rows):
        problem = undecodable_text(record)
        if problem is not None and row not in known:
            known[row] = problem
    known.update({row: problem for row, problem in check_json_types(rows).items() if row not in known})
    for row in known:
        rows[row] = {}
    return datasets.Dataset.from_list(rows), path.parent, known


def _jsonl_rows(path: Path) -> tuple[list[dict[str, Any]], dict[int, Problem]]:
    rows, known = [], {}
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    lines = [line for line in text.splitlines() if line.strip()]
    for row, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            record = None
            reason = f"line is not valid JSON ({error.msg} at column {error.colno})"
        else:
            reason = f"line holds a JSON {type(record).__name__}, not an object"
        if not isinstance(record, dict):
            known[row] = Problem("<line>", "invalid_json", reason, "drop the row (on_error='skip') or fix the line")
            record = {}
        rows.append(record)
    return rows, known


def _csv_rows(path: Path) -> tuple[list[dict[str, Any]], dict[int, Problem]]:
    """Every CSV cell is a string; an empty cell is a missing value."""
    rows, known = [], {}
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as file:
        reader = csv.DictReader(file)
        for row, record in enumerate(reader):
            if None in record:
                reason = f"more fields than the header's {len(reader.fieldnames or ())}"
                known[row] = Problem("<line>", "invalid_csv", reason, "drop the row (on_error='skip') or fix the line")
            rows.append({key: value or None for key, value in record.items() if key is not None})
    return rows, known


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}; choose one of: {', '.join(allowed)}")


def _describe(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return f"<in-memory {type(source).__name__}>"


def _with_features(dataset: AnyDataset) -> AnyDataset:
    """Streams from untyped files (JSON) know their columns only after a first row is read."""
    if isinstance(dataset, datasets.IterableDataset) and dataset.features is None:
        return dataset._resolve_features()
    return dataset


def _stored_images(dataset: AnyDataset) -> AnyDataset:
    """Every image column yields its stored {bytes, path}: validation decodes once, on its own terms."""
    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image) and feature.decode:
            dataset = dataset.cast_column(name, datasets.Image(decode=False))
    return dataset


def _text_shapes(dataset: AnyDataset) -> AnyDataset:
    features = dataset.features
    for column in TEXT_COLUMNS:
        if column in features and _is_list(features[column]):
            dataset = _derive(dataset, column, column, _first_text, datasets.Value("string"))
    negatives = features.get(schema.NEGATIVES)
    if isinstance(negatives, datasets.Value) and negatives.dtype in ("string", "large_string"):
        dataset = _derive(dataset, schema.NEGATIVES, schema.NEGATIVES, _one_item, schema.feature_for(schema.NEGATIVES))
    return dataset


def _image_columns(dataset: AnyDataset, base_dir: Path | None) -> AnyDataset:
    """Image columns hold images, bytes or paths; paths become absolute, then everything an `Image` feature."""
    for column in schema.IMAGE_COLUMNS:
        feature = dataset.features.get(column)
        if feature is None or isinstance(feature, datasets.Image):
            continue
        dtype = getattr(feature, "dtype", None)
        if dtype not in ("string", "large_string", "binary", "large_binary"):
            raise DataValidationError(
                None, column, f"holds {feature}, not images, image bytes or paths", "map an image column onto it"
            )
        if isinstance(dataset, datasets.IterableDataset):  # a cast would not reach rows that later maps see
            dataset = _derive(dataset, column, column, partial(_stored, base_dir), datasets.Image(decode=False))
            continue
        if base_dir is not None and dtype in ("string", "large_string"):
            dataset = _derive(dataset, column, column, partial(_absolute, base_dir), feature)
        dataset = dataset.cast_column(column, datasets.Image(decode=False))
    return dataset


def _canonical(dataset: AnyDataset) -> AnyDataset:
    """Canonical columns get their schema features (images decode as RGB) and come first."""
    features = dataset.features
    for column, feature in features.items():
        if column in CANONICAL_COLUMNS:
            wanted = datasets.Image(mode="RGB") if column in schema.IMAGE_COLUMNS else schema.feature_for(column)
            if feature != wanted:
                dataset = dataset.cast_column(column, wanted)
    canonical = [column for column in CANONICAL_COLUMNS if column in features]
    return dataset.select_columns(canonical + [column for column in features if column not in CANONICAL_COLUMNS])


def _derive(dataset: AnyDataset, name: str, source: str, transform: Callable[[Any], Any], feature: Any) -> AnyDataset:
    """Column `name` := transform(column `source`), row by row; for text-sized columns (values go through Python)."""
    if isinstance(dataset, datasets.IterableDataset):
        features = datasets.Features({**dataset.features, name: feature})
        return dataset.map(partial(_derive_row, name=name, source=source, transform=transform), features=features)
    table = dataset.select_columns([source]).with_format("arrow")[:]
    values = [transform(value) for value in table.column(source).to_pylist()]
    if name in dataset.column_names:
        dataset = dataset.remove_columns(name)
    return dataset.add_column(name, values, feature=feature)


def _derive_row(row: dict, *, name: str, source: str, transform: Callable[[Any], Any]) -> dict:
    return {name: transform(row[source])}


def _is_list(feature: Any) -> bool:
    return isinstance(feature, datasets.List | datasets.LargeList | list)


def _same(value: Any) -> Any:
    return value


def _first_text(values: list | None) -> Any:
    """The first non-empty string; otherwise the first item, for validation to name what is wrong with it."""
    if not values:
        return None
    return next((value for value in values if isinstance(value, str) and value.strip()), values[0])


def _one_item(value: str | None) -> list[str] | None:
    return None if value is None else [value]


def _absolute(base_dir: Path | None, path: str | None) -> str | None:
    if base_dir is None or path is None or "://" in path or os.path.isabs(path):
        return path
    return str(base_dir / path)


def _stored(base_dir: Path | None, value: str | bytes | None) -> dict | None:
    """A path or raw bytes as the {bytes, path} dict an `Image(decode=False)` column holds."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return {"bytes": value, "path": None}
    return {"bytes": None, "path": _absolute(base_dir, value)}
