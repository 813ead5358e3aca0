"""Validation at load time: every bad row is found once, named, and either fails the load or is dropped.

A bad row gets a `DataValidationError` naming its index (0-based, in the order the source
lists rows), the column, what is wrong and how to fix it. With `on_error="skip"` bad rows
are dropped, kept rows stay intact and in order, and the `ValidationReport` counts drops
by reason. Images in another mode than RGB are not errors: they are converted to RGB and
counted by mode.

Cost is bounded on large datasets by the `validation` level:
- "full" checks every row (decoding every image once, in parallel with `num_proc`) and
  converts non-RGB images exactly (`to_rgb`), rewriting the dataset only when some need it.
  A stream is checked and converted lazily, row by row, as it is consumed.
- "sample" checks `sample_size` rows drawn with a seed (the first `sample_size` rows of a
  stream). Only sampled bad rows can be dropped or raise; unsampled rows pass unchecked, and
  modes are counted in the sample only. Nothing is rewritten.
- "off" checks only that the required columns exist.
Images that "full" did not convert still reach users as RGB: the loader's `Image(mode="RGB")`
feature converts them at decode time with PIL's plain conversion, which clips 16-bit images
and drops alpha where `to_rgb` rescales and composites on white.
"""

from __future__ import annotations

import io
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
from PIL import Image, UnidentifiedImageError

from . import schema


MAX_REPORTED_MESSAGES = 10
VALIDATION_LEVELS = ("full", "sample", "off")
ON_ERROR = ("raise", "skip")
KINDS = ("edit", "preference")
# Non-canonical list columns with this prefix run parallel to `negative_instructions` (one item per negative).
PARALLEL_NEGATIVE_PREFIX = "negative_"
# Rows per batch in the validation map: both images of every row are held as bytes at once.
_BATCH_SIZE = 32
_DROP = "_edit_handbook_drop"
_SKIP_FIX = "drop the row (on_error='skip') or "


class DataValidationError(ValueError):
    """A bad row or a missing column, with the fix; `row` is None when the whole dataset is concerned."""

    def __init__(self, row: int | None, column: str, reason: str, fix: str, more: int = 0) -> None:
        self.row, self.column, self.reason, self.fix, self.more = row, column, reason, fix, more
        where = f"column {column!r}" if row is None else f"row {row}, column {column!r}"
        message = f"{where}: {reason}; fix: {fix}"
        if more:
            message += f" ({more} more bad rows; on_error='skip' drops them all and counts them in the report)"
        super().__init__(message)

    def __reduce__(self):  # exceptions leave worker processes pickled: keep every field, not just the message
        return type(self), (self.row, self.column, self.reason, self.fix, self.more)


@dataclass(frozen=True)
class Problem:
    """What is wrong with one row: `code` is the category counted in the report."""

    column: str
    code: str
    reason: str
    fix: str

    def error(self, row: int, more: int = 0) -> DataValidationError:
        return DataValidationError(row, self.column, self.reason, self.fix, more=more)


@dataclass
class ValidationReport:
    """What the load checked, dropped and converted; `summary()` is for logs, `to_dict()` for cards."""

    source: str
    kind: str
    validation: str
    on_error: str
    num_rows: int | None = None
    num_checked: int = 0
    num_kept: int | None = None
    dropped: Counter = field(default_factory=Counter)
    converted_modes: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)

    def record_drop(self, row: int, problem: Problem) -> None:
        self.dropped[problem.code] += 1
        if len(self.messages) < MAX_REPORTED_MESSAGES:
            self.messages.append(str(problem.error(row)))

    @property
    def num_dropped(self) -> int:
        return sum(self.dropped.values())

    def summary(self) -> str:
        rows = "streamed" if self.num_rows is None else f"{self.num_rows} loaded"
        kept = "" if self.num_kept is None else f", {self.num_kept} kept"
        lines = [
            f"{self.kind} rows from {self.source!r} (validation={self.validation}, on_error={self.on_error})",
            f"  rows: {rows}, {self.num_checked} checked{kept}, {self.num_dropped} dropped",
        ]
        if self.dropped:
            lines.append("  dropped: " + ", ".join(f"{code} {n}" for code, n in self.dropped.most_common()))
        if self.converted_modes:
            converted = ", ".join(f"{mode} {n}" for mode, n in self.converted_modes.most_common())
            lines.append(f"  images converted to RGB: {converted}")
        if self.messages:
            lines.append("  first problems:")
            lines.extend(f"    {message}" for message in self.messages)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "validation": self.validation,
            "on_error": self.on_error,
            "num_rows": self.num_rows,
            "num_checked": self.num_checked,
            "num_kept": self.num_kept,
            "num_dropped": self.num_dropped,
            "dropped": dict(self.dropped),
            "converted_modes": dict(self.converted_modes),
            "messages": list(self.messages),
        }


# Rows of a high-bit-depth image converted at once: bounds the temporaries (a 64 MP 16-bit image is 128 MB).
_ROWS_PER_BLOCK = 256


def to_8bit(image: Image.Image) -> Image.Image:
    """The image as 8-bit "L" (grey sources) or "RGB", without losing what PIL's plain `convert` loses:
    16-bit range (rescaled, 65535 -> 255, where `convert` clips to white) and alpha (composited on white).

    High-bit-depth images are converted a block of rows at a time in integer arithmetic, so memory stays
    near the size of the input (no full-precision copy of the image).
    """
    if image.mode in ("RGB", "L"):
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _grey_to_8bit(image)
    if "A" in image.getbands() or "a" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, converted exactly as `to_8bit` says (grey stays grey)."""
    image = to_8bit(image)
    return image if image.mode == "RGB" else image.convert("RGB")


def _grey_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float grey -> "L": 16-bit modes (and "I"/"F" images with values above 255) map
    0..65535 onto 0..255 rounded (round(v / 257), computed as `((v + 128) * 65281) >> 24`, exact for every
    16-bit value); values outside the range clip."""
    width, height = image.size
    scale = image.mode.startswith("I;16") or (image.getextrema()[1] or 0) > 255
    out = np.empty((height, width), dtype=np.uint8)
    for top in range(0, height, _ROWS_PER_BLOCK):
        block = np.asarray(image.crop((0, top, width, min(height, top + _ROWS_PER_BLOCK))))
        if image.mode == "F":
            block = np.clip(np.rint(block / 257.0 if scale else block), 0, 255)
        elif scale:
            block = np.clip(block, 0, 65535).astype(np.uint32)
            block += 128
            block *= 65281
            block >>= 24
        else:
            block = np.clip(block, 0, 255)
        out[top : top + block.shape[0]] = block
    return Image.fromarray(out)


def check_columns(column_names: Iterable[str], kind: str) -> None:
    """Fail before reading any row when a required canonical column is absent."""
    names = list(column_names)
    required = schema.REQUIRED_EDIT_COLUMNS if kind == "edit" else schema.REQUIRED_PREFERENCE_COLUMNS
    for column in required:
        if column not in names:
            raise DataValidationError(
                None,
                column,
                f"missing column (the data has: {', '.join(names) or 'no columns'})",
                f"map a column onto it with column_mapping={{{column!r}: '<your column>'}} or pick a preset",
            )


def check_row(row: Mapping[str, Any], kind: str, max_pixels: int) -> tuple[Problem | None, list[str]]:
    """The row's first problem (text before images: text is cheap) and the non-RGB modes of its images."""
    problem = _text_problem(row) if kind == "edit" else _preference_problem(row)
    if problem:
        return problem, []
    modes = []
    for column in schema.IMAGE_COLUMNS:
        problem, mode = _image_problem(row.get(column), column, max_pixels)
        if problem:
            return problem, []
        if mode != "RGB":
            modes.append(mode)
    return None, modes


def undecodable_text(record: Mapping[str, Any]) -> Problem | None:
    """A manifest row holding bytes that are not UTF-8 (read with `surrogateescape`, they are lone surrogates)."""
    for column, value in record.items():
        for text in _strings(value) if column is not None else ():
            bad = next((i for i, char in enumerate(text) if "\udc80" <= char <= "\udcff"), None)
            if bad is not None:
                byte = ord(text[bad]) - 0xDC00
                reason = f"byte 0x{byte:02x} at character {bad} is not UTF-8"
                return Problem(str(column), "invalid_utf8", reason, f"{_SKIP_FIX}re-save the manifest as UTF-8")
    return None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


def outside(path: str, root: str) -> bool:
    """Whether a local image path resolves (symlinks followed) outside the folder `root`."""
    if "://" in path:
        return False  # a URL is not a file of this machine; reading it fails as a missing file
    real = os.path.realpath(path)
    return os.path.commonpath([real, root]) != root


def _outside_problem(column: str, path: str, root: str) -> Problem:
    reason = f"image path {path} leaves the folder {root} that paths are relative to"
    fix = (
        f"{_SKIP_FIX}move the image into that folder, or allow paths outside it if you trust this manifest "
        "(allow_outside_paths=True, --dataset_allow_outside_paths)"
    )
    return Problem(column, "path_outside", reason, fix)


def outside_paths(dataset: datasets.Dataset, root: str) -> dict[int, Problem]:
    """Rows whose stored image paths leave `root` (cheap: paths only, no image is opened)."""
    problems: dict[int, Problem] = {}
    for column in schema.IMAGE_COLUMNS:
        if column not in dataset.column_names:
            continue
        values = dataset.select_columns([column]).with_format("arrow")[:].column(column).to_pylist()
        for row, value in enumerate(values):
            path = value.get("path") if isinstance(value, dict) and value.get("bytes") is None else None
            if path and row not in problems and outside(path, root):
                problems[row] = _outside_problem(column, path, root)
    return problems


def check_json_types(rows: list[dict[str, Any]]) -> dict[int, Problem]:
    """Rows holding a value whose JSON type differs from most of its column: Arrow keeps one type per column."""
    types: dict[str, Counter] = {}
    for row in rows:
        for column, value in row.items():
            if value is not None and value != []:
                types.setdefault(column, Counter())[_json_type(value)] += 1
    problems: dict[int, Problem] = {}
    for column, counts in types.items():
        majority = counts.most_common(1)[0][0]
        if len(counts) == 1 and majority != "mixed list":
            continue
        for index, row in enumerate(rows):
            value = row.get(column)
            found = None if value is None or value == [] else _json_type(value)
            if found not in (None, majority) or found == "mixed list":
                reason = f"a JSON {found} where the column holds {majority} values"
                code = "non_string_text" if majority == "string" else "mixed_types"
                fix = f"{_SKIP_FIX}write it as a {majority} like the other rows"
                problems.setdefault(index, Problem(column, code, reason, fix))
    return problems


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        inner = {_json_type(item) for item in value if item is not None}
        return "mixed list" if len(inner) > 1 else f"list of {next(iter(inner), 'null')}"
    return {str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}.get(type(value), "value")


def validate_dataset(
    dataset: datasets.Dataset,
    report: ValidationReport,
    *,
    sample_size: int,
    max_pixels: int,
    num_proc: int | None,
    seed: int,
    known: Mapping[int, Problem] | None = None,
) -> datasets.Dataset:
    """Check the rows the validation level asks for; raise on the first bad one or drop every bad one.

    `known` holds problems found before the table existed (a manifest line that is not JSON).
    """
    check_columns(dataset.column_names, report.kind)
    report.num_rows = report.num_kept = len(dataset)
    bad = dict(known or {})
    if report.validation != "off":
        # Rows already known bad are not opened (a path that leaves the manifest's folder is never read).
        rows: range | list[int] = range(len(dataset)) if not bad else [r for r in range(len(dataset)) if r not in bad]
        if report.validation == "sample" and sample_size < len(rows):
            rows = sorted(random.Random(seed).sample(rows, sample_size))
        checked = dataset if len(rows) == len(dataset) else dataset.select(rows)
        results = {key: [] for key in ("position", "column", "code", "reason", "fix", "modes")}
        if len(checked):  # empty when every row is known bad already
            results = checked.map(
                _check_batch,
                batched=True,
                batch_size=_BATCH_SIZE,
                with_indices=True,
                remove_columns=checked.column_names,
                fn_kwargs={"kind": report.kind, "max_pixels": max_pixels},
                num_proc=num_proc,
                load_from_cache_file=False,  # image files behind paths can change without the fingerprint changing
                desc="Validating rows",
            ).to_dict()
        report.num_checked = len(rows)
        outcomes = zip(*(results[key] for key in ("position", "column", "code", "reason", "fix", "modes")))
        for position, column, code, reason, fix, modes in outcomes:
            if code is not None:
                bad.setdefault(rows[position], Problem(column, code, reason, fix))
            elif rows[position] not in bad:
                report.converted_modes.update(modes)
    if bad and report.on_error == "raise":
        row = min(bad)
        raise bad[row].error(row, more=len(bad) - 1)
    for row in sorted(bad):
        report.record_drop(row, bad[row])
    if bad:
        dataset = dataset.select([row for row in range(len(dataset)) if row not in bad])
        report.num_kept = len(dataset)
    if report.converted_modes and report.validation == "full":
        dataset = dataset.map(
            _convert_batch,
            batched=True,
            batch_size=_BATCH_SIZE,
            features=dataset.features,
            num_proc=num_proc,
            load_from_cache_file=False,
            desc="Converting images to RGB",
        )
    return dataset


def validate_stream(
    dataset: datasets.IterableDataset,
    report: ValidationReport,
    *,
    sample_size: int,
    max_pixels: int,
    known: Mapping[int, Problem] | None = None,
    confine: str | None = None,
) -> datasets.IterableDataset:
    """Check rows lazily as they stream; the report fills in as rows are consumed in this process.

    With `confine`, every row's local image paths must stay inside that folder, at every validation level.
    """
    check_columns(dataset.column_names, report.kind)
    if report.validation == "off" and not known and confine is None:
        return dataset
    features = datasets.Features({**dataset.features, _DROP: datasets.Value("bool")})
    checker = _stream_checker(report, dict(known or {}), sample_size, max_pixels, confine)
    checked = dataset.map(checker, with_indices=True, features=features).filter(lambda row: not row[_DROP])
    return checked.remove_columns(_DROP)


def _stream_checker(
    report: ValidationReport, known: dict[int, Problem], sample_size: int, max_pixels: int, confine: str | None
) -> Callable[[dict, int], dict]:
    limit = {"full": None, "sample": sample_size, "off": 0}[report.validation]

    def check(row: dict, index: int) -> dict:
        problem, modes = known.get(index), []
        for column in schema.IMAGE_COLUMNS if confine is not None and problem is None else ():
            value = row.get(column)
            path = value.get("path") if isinstance(value, dict) and value.get("bytes") is None else None
            if path and outside(path, confine):
                problem = _outside_problem(column, path, confine)
                break
        if problem is None and (limit is None or index < limit):
            report.num_checked += 1
            problem, modes = check_row(row, report.kind, max_pixels)
        if problem and report.on_error == "raise":
            raise problem.error(index)
        if problem:
            report.record_drop(index, problem)
            return {_DROP: True}
        report.converted_modes.update(modes)
        converted = {column: _converted(row[column]) for column in schema.IMAGE_COLUMNS} if modes else {}
        return {**converted, _DROP: False}

    return check


def _check_batch(batch: dict[str, list], positions: list[int], *, kind: str, max_pixels: int) -> dict[str, list]:
    out: dict[str, list] = {"position": [], "column": [], "code": [], "reason": [], "fix": [], "modes": []}
    for offset, position in enumerate(positions):
        problem, modes = check_row({name: values[offset] for name, values in batch.items()}, kind, max_pixels)
        out["position"].append(position)
        out["modes"].append(modes)
        for key in ("column", "code", "reason", "fix"):
            out[key].append(getattr(problem, key) if problem else None)
    return out


def _convert_batch(batch: dict[str, list]) -> dict[str, list]:
    return {column: [_converted(value) for value in batch[column]] for column in schema.IMAGE_COLUMNS}


def _converted(value: dict) -> dict:
    """The stored image (a `datasets` {bytes, path} dict) as lossless 8-bit PNG bytes, or unchanged if RGB.

    Grey sources are stored grey ("L"): the loader's `Image(mode="RGB")` feature turns "L" into RGB exactly,
    and the file is a third of the size. Compression level 1: these are working copies, written fast.
    """
    with _open(value) as image:
        if image.mode in ("RGB", "L"):
            return value
        buffer = io.BytesIO()
        to_8bit(image).save(buffer, format="PNG", compress_level=1)
    return {"bytes": buffer.getvalue(), "path": None}


def _open(value: dict) -> Image.Image:
    """Open a stored image (`Image(decode=False)` gives {bytes, path}); bytes win, as in `datasets`."""
    if value.get("bytes") is not None:
        return Image.open(io.BytesIO(value["bytes"]))
    return Image.open(value["path"])


def _image_problem(value: dict | None, column: str, max_pixels: int) -> tuple[Problem | None, str]:
    """Open, size-check and fully decode one image; returns (problem, mode).

    The size comes from the header, before decoding; only a full decode finds truncated files,
    and converting a non-RGB image finds modes with no RGB form.
    """
    drop = f"{_SKIP_FIX}fix the image"
    if value is None or (value.get("bytes") is None and not value.get("path")):
        return Problem(column, "missing_image", "no image", f"{_SKIP_FIX}add the image"), ""
    if value.get("bytes") is None:
        path = value["path"]
        if not os.path.isfile(path):
            fix = f"{_SKIP_FIX}correct the path (relative paths are read from the manifest's folder)"
            return Problem(column, "file_not_found", f"image file not found: {path}", fix), ""
        if os.path.getsize(path) == 0:
            return Problem(column, "empty_file", f"image file is empty (0 bytes): {path}", drop), ""
    elif len(value["bytes"]) == 0:
        return Problem(column, "empty_file", "image bytes are empty", drop), ""
    try:
        with _open(value) as image:
            width, height = image.size  # PIL refuses to open a 0-pixel image: that is an unreadable file
            if width * height > max_pixels:
                reason = f"image is {width}x{height} = {width * height} pixels, above max_pixels={max_pixels}"
                return Problem(column, "huge_image", reason, f"{_SKIP_FIX}downscale it or raise max_pixels"), ""
            image.load()
            if image.mode != "RGB" and not (image.mode.startswith("I") or image.mode == "F"):
                to_8bit(image)  # finds modes with no RGB form; grey modes always have one (no copy needed)
            return None, image.mode
    except Image.DecompressionBombError as error:
        return Problem(column, "huge_image", str(error), f"{_SKIP_FIX}downscale it or raise max_pixels"), ""
    except UnidentifiedImageError:
        return Problem(column, "unreadable_image", "not an image file PIL can read", drop), ""
    except (OSError, ValueError, SyntaxError) as error:
        code = "truncated_image" if "truncat" in str(error).lower() else "unreadable_image"
        fix = f"{_SKIP_FIX}re-export or re-download the image"
        return Problem(column, code, f"image cannot be decoded ({error})", fix), ""


def _text_problem(row: Mapping[str, Any]) -> Problem | None:
    problem = _bad_text(row.get(schema.INSTRUCTION), schema.INSTRUCTION)
    rectified = row.get(schema.RECTIFIED)
    if problem is None and rectified is not None:
        problem = _bad_text(rectified, schema.RECTIFIED)
    return problem or _negatives_problem(row, row[schema.INSTRUCTION] if rectified is None else rectified)


def _negatives_problem(row: Mapping[str, Any], positive: str) -> Problem | None:
    """Negatives must differ from the positive: the rectified instruction when there is one (an original,
    unrectified instruction is often wrong, so it may legitimately serve as a negative)."""
    negatives = row.get(schema.NEGATIVES)
    if negatives is None:
        return None
    if not isinstance(negatives, list):
        fix = f"{_SKIP_FIX}store the negatives as a list of strings"
        return Problem(schema.NEGATIVES, "non_list_negatives", f"expected a list, got {type(negatives).__name__}", fix)
    for item, negative in enumerate(negatives):
        problem = _bad_text(negative, schema.NEGATIVES, f"item {item}: ")
        if problem:
            return problem
        if _normalized(negative) == _normalized(positive):
            reason = f"item {item} ({negative!r}) is the positive instruction itself"
            fix = f"{_SKIP_FIX}remove or rewrite that negative so it contradicts the instruction"
            return Problem(schema.NEGATIVES, "negative_equals_positive", reason, fix)
    for column, values in row.items():
        parallel = column.startswith(PARALLEL_NEGATIVE_PREFIX) and column != schema.NEGATIVES
        if parallel and isinstance(values, list) and len(values) != len(negatives):
            reason = f"{len(values)} items but {schema.NEGATIVES!r} has {len(negatives)}"
            fix = f"{_SKIP_FIX}give {column!r} one item per negative instruction"
            return Problem(column, "list_length_mismatch", reason, fix)
    return None


def _preference_problem(row: Mapping[str, Any]) -> Problem | None:
    for column in (schema.CHOSEN, schema.REJECTED):
        problem = _bad_text(row.get(column), column)
        if problem:
            return problem
    if _normalized(row[schema.CHOSEN]) == _normalized(row[schema.REJECTED]):
        fix = f"{_SKIP_FIX}replace the rejected instruction with a flawed one"
        return Problem(schema.REJECTED, "chosen_equals_rejected", "identical to 'chosen'", fix)
    for column, allowed in ((schema.ERROR_TYPE, schema.ERROR_TYPES), (schema.SEVERITY, schema.SEVERITIES)):
        if row.get(column) not in allowed:
            fix = f"{_SKIP_FIX}use one of: {', '.join(allowed)}"
            return Problem(column, "unknown_label", f"unknown label {row.get(column)!r}", fix)
    return None


def _bad_text(value: Any, column: str, prefix: str = "") -> Problem | None:
    fix = f"{_SKIP_FIX}fill in the {column.replace('_', ' ')}"
    if value is None:
        return Problem(column, "empty_text", f"{prefix}missing value", fix)
    if not isinstance(value, str):
        return Problem(column, "non_string_text", f"{prefix}expected a string, got {type(value).__name__}", fix)
    if not value.strip():
        return Problem(column, "empty_text", f"{prefix}empty string", fix)
    return None


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())
