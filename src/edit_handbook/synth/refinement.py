"""The human refinement loop: export rows for annotators, import their edits as SFT and preference data.

EditCaption's SFT data is model captions that humans corrected, and its preference data pairs each
correction (chosen) with the model's answer (rejected), labelled with the error type and severity. Export
writes the images as PNG files and one editable table (CSV for spreadsheets, or JSONL) plus a short guide;
import checks every edited row and refuses the file with one message listing every problem (line, id,
field, what is wrong and how to fix it) rather than training on a silently wrong label.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import datasets

from edit_handbook.data import schema
from edit_handbook.synth.prompts import ANNOTATION_GUIDE, prompt_version


EXPORT_FILE = "export.json"
EDITABLE = ("refined_instruction", "error_type", "severity", "keep", "notes")
COLUMNS = ("id", "source_image", "target_image", "model_instruction", *EDITABLE)
YES, NO = ("", "yes", "y", "true", "1"), ("no", "n", "false", "0")


class AnnotationError(ValueError):
    """An edited annotation file that cannot be imported; the message lists every problem."""


@dataclass
class RefinedData:
    sft: datasets.Dataset
    preference: datasets.Dataset
    counts: dict[str, int]


def _file_stem(row_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", row_id)


def export_for_annotation(
    dataset: datasets.Dataset,
    folder: str | Path,
    *,
    instruction_column: str = schema.INSTRUCTION,
    file_format: str = "csv",
) -> Path:
    """Write images, `annotations.csv` (or `.jsonl`) and `GUIDE.md` to `folder`; returns the table's path."""
    if file_format not in ("csv", "jsonl"):
        raise ValueError(f"file_format must be 'csv' or 'jsonl', got {file_format!r}")
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows, stems = [], set()
    for index, row in enumerate(dataset):
        row_id = str(row.get(schema.ID) or f"row-{index:08d}")
        stem = _file_stem(row_id)
        if stem in stems:
            raise ValueError(f"row {index}: id {row_id!r} repeats (or clashes as a file name); ids must be unique")
        stems.add(stem)
        paths = {}
        for column, suffix in ((schema.SOURCE_IMAGE, "source"), (schema.TARGET_IMAGE, "target")):
            paths[column] = f"images/{stem}_{suffix}.png"
            row[column].convert("RGB").save(folder / paths[column])
        rows.append(
            {"id": row_id, **paths, "model_instruction": row[instruction_column] or "", **dict.fromkeys(EDITABLE, "")}
        )
        rows[-1]["keep"] = "yes"
    table = folder / f"annotations.{file_format}"
    if file_format == "csv":
        with open(table, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        table.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    guide = ANNOTATION_GUIDE.format(error_types=", ".join(schema.ERROR_TYPES), severities=", ".join(schema.SEVERITIES))
    (folder / "GUIDE.md").write_text(guide)
    exported = {row["id"]: row["model_instruction"] for row in rows}
    record = {"prompt_version": prompt_version(), "instruction_column": instruction_column, "rows": exported}
    (folder / EXPORT_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False))
    return table


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header and (line number, row) pairs; line numbers are what an annotator sees in an editor."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            return list(reader.fieldnames or []), [(reader.line_num, dict(row)) for row in reader]
    rows, header = [], list(COLUMNS)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise AnnotationError(
                f"{path.name} line {number}: not a JSON object ({error.msg}); fix the line's syntax"
            ) from None
        if not isinstance(row, dict):
            raise AnnotationError(f"{path.name} line {number}: expected a JSON object, got {type(row).__name__}")
        rows.append((number, {k: "" if v is None else str(v) for k, v in row.items()}))
    return header, rows


def check_row(row: dict, expected_instruction: str | None) -> list[tuple[str, str, str]]:
    """(field, problem, fix) for each problem of one edited row; empty when it is good. Pure."""
    problems = []
    get = {name: (row.get(name) or "").strip() for name in COLUMNS}
    if expected_instruction is None:
        problems.append(("id", f"{get['id']!r} is not an exported id", "restore the id as exported"))
    elif get["model_instruction"] != expected_instruction.strip():
        problems.append(("model_instruction", "was changed", "restore it; write corrections in refined_instruction"))
    if get["keep"].lower() not in YES + NO:
        problems.append(("keep", f"{get['keep']!r} is not yes or no", "write yes or no"))
    refined = get["refined_instruction"] and get["refined_instruction"] != get["model_instruction"]
    for name, allowed in (("error_type", schema.ERROR_TYPES), ("severity", schema.SEVERITIES)):
        value = get[name].lower()
        if refined and value not in allowed:
            shown = repr(get[name]) if value else "empty"
            problems.append(
                (name, f"{shown} is not one of {', '.join(allowed)}", f"write one of {', '.join(allowed)}")
            )
        elif not refined and value:
            problems.append(
                (
                    name,
                    "is set but the instruction was not refined",
                    f"clear {name}, or write the corrected instruction",
                )
            )
    return problems


def import_annotations(folder: str | Path, table: str | Path | None = None) -> RefinedData:
    """Read an exported folder's edited table into SFT rows (refined or accepted) and preference rows.

    Raises `AnnotationError` listing every malformed row. Rows with `keep = no` are dropped from both.
    """
    folder = Path(folder)
    export_path = folder / EXPORT_FILE
    if not export_path.exists():
        raise AnnotationError(f"{folder} has no {EXPORT_FILE}: import the folder `export_for_annotation` wrote")
    exported = json.loads(export_path.read_text())["rows"]
    if table is None:
        found = [folder / f"annotations.{ext}" for ext in ("csv", "jsonl") if (folder / f"annotations.{ext}").exists()]
        table = found[0] if found else folder / "annotations.csv"
    path = Path(table)
    header, rows = _read_table(path)
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise AnnotationError(f"{path.name}: missing columns {missing}; fix: keep the exported header row unchanged")
    errors, seen = [], set()
    for line, row in rows:
        row_id = (row.get("id") or "").strip()
        where = f"{path.name} line {line} (id {row_id!r})"
        if row_id in seen:
            errors.append(f"{where}, field 'id': appears twice; fix: keep one row per id")
        seen.add(row_id)
        errors += [
            f"{where}, field {f!r}: {what}; fix: {fix}" for f, what, fix in check_row(row, exported.get(row_id))
        ]
        for name in (schema.SOURCE_IMAGE, schema.TARGET_IMAGE):
            if not (folder / (row.get(name) or "").strip()).is_file():
                errors.append(f"{where}, field {name!r}: no file {row.get(name)!r}; fix: restore the exported path")
    absent = [row_id for row_id in exported if row_id not in seen]
    if absent:
        errors.append(f"{path.name}: {len(absent)} exported rows are missing, e.g. {absent[:3]}; fix: restore them")
    if errors:
        raise AnnotationError(f"{len(errors)} problem(s) in {path}:\n" + "\n".join(errors))

    sft = {name: [] for name in (schema.ID, schema.SOURCE_IMAGE, schema.TARGET_IMAGE, schema.INSTRUCTION)}
    preference = {name: [] for name in (schema.ID, *schema.REQUIRED_PREFERENCE_COLUMNS)}
    counts = {"accepted": 0, "refined": 0, "dropped": 0}
    for _, row in rows:
        get = {name: (row.get(name) or "").strip() for name in COLUMNS}
        if get["keep"].lower() in NO:
            counts["dropped"] += 1
            continue
        # Embedded bytes, so the datasets survive moving or deleting the export folder.
        images = [{"bytes": (folder / get[name]).read_bytes(), "path": None} for name in schema.IMAGE_COLUMNS]
        refined = get["refined_instruction"] and get["refined_instruction"] != get["model_instruction"]
        counts["refined" if refined else "accepted"] += 1
        for name, value in zip(sft, [get["id"], *images, get["refined_instruction"] or get["model_instruction"]]):
            sft[name].append(value)
        if refined:
            values = [get["id"], *images, get["refined_instruction"], get["model_instruction"]]
            values += [get["error_type"].lower(), get["severity"].lower()]
            for name, value in zip(preference, values):
                preference[name].append(value)
    return RefinedData(
        sft=datasets.Dataset.from_dict(sft, features=schema.edit_pair_features((schema.ID,))),
        preference=datasets.Dataset.from_dict(preference, features=schema.preference_features()),
        counts=counts,
    )
