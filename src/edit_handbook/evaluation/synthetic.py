"""The synthetic ground-truth suite: instructions, rectifications and negatives checked exactly, no judge.

Synthetic pairs carry their edit's exact description (`edit_spec`), and `check_instruction` returns a verdict
plus, per aspect of the edit (action, object, colour, direction, count, attribute), whether the text got it
right (True), wrong (False) or the edit does not involve it (None). The metrics, per item then averaged with
bootstrap intervals (an item whose captioner gave no instruction counts as wrong in `accuracy`, which is over all
items, is left out of the per-aspect metrics, and is counted in `answered_rate`):

- `accuracy`: the checker accepts the whole instruction;
- `orientation_accuracy`: the direction aspect is right, over orientation pairs (move, mirror, rotate);
- `viewpoint_accuracy`: the direction aspect is right, over viewpoint pairs (pan, tilt, zoom: the camera's
  direction, or the content's opposite one, and never an ambiguous "its left");
- `attribute_recall`: the share of the fine-grained attributes the edit needs named that are named right (the
  object's colour, and the new colour / size / pattern, or the added object's size and pattern), per pair;
- `object_accuracy`: the object aspect (the right shape, no other) is right, over pairs naming an object;
- `count_accuracy`: the count aspect is right, over pairs that check it (count edits: the right number;
  single-object edits: no wrong number);
and `accuracy` per failure mode, per edit type and per aspect.

For a synthesis output (SuperEdit's rectified instructions and negatives, `edit-handbook synthesize`):
- rectification success: within CLIP's 77 tokens (counting begin and end, `synth.tasks.clip_token_count`)
  and all four aspects covered (`covered_aspects`); a failed row is a failure. `rectified_correct_rate` adds the
  checker's verdict on the text, on synthetic pairs;
- negative validity (`synth.tasks.negative_is_valid`): the checker rejects the negative, on exactly one aspect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets

from edit_handbook.data import schema
from edit_handbook.data.synthetic import FAILURE_MODE, check_instruction
from edit_handbook.editcaption.prompts import CLIP_MAX_TOKENS
from edit_handbook.evaluation.captioners import CaptionerSpec, write_instructions
from edit_handbook.evaluation.item_images import item_ids, save_pair_images
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import Estimate, estimate
from edit_handbook.synth.backends import Backend
from edit_handbook.synth.tasks import OK, STATUS, clip_token_count, negative_is_valid


SUITE, RECTIFICATION_SUITE, NEGATIVES_SUITE = "synthetic_checker", "rectification", "negatives"
SPEC_COLUMN = "edit_spec"
ASPECTS = ("action", "object", "colour", "direction", "count", "attribute")
ATTRIBUTE_ASPECTS = ("colour", "attribute")
# SuperEdit's four aspects, as the rectify prompt names them and its answers label them ("Layout: ...").
RECTIFY_ASPECTS = {"layout": ("layout",), "objects": ("object", "objects"), "details": ("detail", "details")}
RECTIFY_ASPECTS["style"] = ("style",)

Groups = dict[str, dict[str, dict[str, Estimate]]]


def _require_specs(dataset: datasets.Dataset) -> None:
    if SPEC_COLUMN not in dataset.column_names:
        raise ValueError(
            f"the synthetic suite needs the ground-truth column {SPEC_COLUMN!r} (pairs from `edit-handbook "
            f"generate` or dataset_name='synthetic'); the data has {', '.join(dataset.column_names)}"
        )


def checked_item(item_id: str, instruction: str | None, spec: str | dict, **context: Any) -> dict[str, Any]:
    """One item: the checker's verdict, its aspects and errors; `correct` is None when there is no instruction."""
    spec = json.loads(spec) if isinstance(spec, str) else spec
    base = {
        "id": item_id,
        "instruction": instruction,
        "edit_type": spec["type"],
        "failure_mode": FAILURE_MODE[spec["type"]],
    }
    if not instruction:
        return {**base, "correct": None, "aspects": {}, "checker_errors": [], "error": "no instruction", **context}
    result = check_instruction(instruction, spec)
    return {
        **base,
        "correct": result.correct,
        "aspects": result.aspects,
        "checker_errors": result.errors,
        "error": None,
        **context,
    }


def _aspect(item: dict, name: str, failure_mode: str | None = None) -> bool | None:
    """Whether aspect `name` held (None: not checked, or the item is of another failure mode)."""
    if item["error"] is not None or (failure_mode is not None and item["failure_mode"] != failure_mode):
        return None
    return item["aspects"].get(name)


def attribute_recall(item: dict) -> float | None:
    """Share of the attribute aspects this edit checks that the instruction got right (None: none checked)."""
    held = [_aspect(item, name) for name in ATTRIBUTE_ASPECTS]
    held = [value for value in held if value is not None]
    return sum(held) / len(held) if held else None


def checker_metrics(items: Sequence[dict], **stats: Any) -> tuple[dict[str, Estimate], Groups]:
    """The module docstring's metrics over checked items, with `accuracy` per failure mode, edit type, aspect."""

    def accuracy(rows: Sequence[dict]) -> dict[str, Estimate]:
        return {"accuracy": estimate([item["correct"] is True for item in rows], **stats)}  # no answer: wrong

    metrics = {
        **accuracy(items),
        "orientation_accuracy": estimate([_aspect(item, "direction", "orientation") for item in items], **stats),
        "viewpoint_accuracy": estimate([_aspect(item, "direction", "viewpoint") for item in items], **stats),
        "attribute_recall": estimate([attribute_recall(item) for item in items], **stats),
        "object_accuracy": estimate([_aspect(item, "object") for item in items], **stats),
        "count_accuracy": estimate([_aspect(item, "count") for item in items], **stats),
        "answered_rate": estimate([item["error"] is None for item in items], **stats),
    }
    groups: Groups = {}
    for column in ("failure_mode", "edit_type"):
        values = sorted({item[column] for item in items})
        groups[column] = {value: accuracy([item for item in items if item[column] == value]) for value in values}
    groups["aspect"] = {
        name: {"accuracy": estimate([_aspect(item, name) for item in items], **stats)} for name in ASPECTS
    }
    return metrics, groups


def evaluate_synthetic(
    dataset: datasets.Dataset,
    captioners: Sequence[CaptionerSpec],
    make_backend: Callable[[CaptionerSpec], Backend],
    output_dir: str | Path,
    **stats: Any,
) -> list[SuiteResult]:
    """Every captioner's instructions for the synthetic pairs, checked; one `SuiteResult` per captioner."""
    _require_specs(dataset)
    output_dir = Path(output_dir)
    ids = item_ids(dataset)
    images = save_pair_images(dataset, output_dir, ids)
    specs, references = dataset[SPEC_COLUMN], dataset[schema.INSTRUCTION]
    results = []
    for spec in captioners:
        texts, errors, described = write_instructions(spec, dataset, make_backend)
        items = [
            checked_item(ids[i], text, specs[i], reference=references[i], images=images[i])
            for i, text in enumerate(texts)
        ]
        for item, error in zip(items, errors):
            item["error"] = error or item["error"]
        metrics, groups = checker_metrics(items, **stats)
        meta = {
            "captioner": described,
            "items": len(items),
            "captioner_failures": sum(error is not None for error in errors),
            "image_root": str(output_dir.resolve()),
            "item_metrics": ["correct"],
            "note": "Checked by the exact checker of the synthetic pairs (edit_handbook.data.synthetic), no judge.",
        }
        results.append(SuiteResult(SUITE, spec.name, metrics, groups, items, meta, rank_key="correct"))
    return results


def covered_aspects(text: str | None) -> dict[str, bool]:
    """Which of SuperEdit's four aspects a rectified description names (a lexical check of its labels)."""
    words = set(re.findall(r"[a-z]+", (text or "").lower()))
    return {aspect: bool(words & set(names)) for aspect, names in RECTIFY_ASPECTS.items()}


def rectification_item(
    item_id: str, text: str | None, clip_tokenizer, spec: str | None = None, status: str = OK, **context: Any
) -> dict[str, Any]:
    """One rectified row: CLIP length, aspects, success; a row without text (failed, rejected) is a failure."""
    usable = bool(text) and status == OK
    tokens = clip_token_count(clip_tokenizer, text) if text else None
    aspects = covered_aspects(text if usable else None)
    within = usable and tokens <= CLIP_MAX_TOKENS
    return {
        "id": item_id,
        "rectified_instruction": text,
        "status": status,
        "clip_tokens": tokens,
        "within_clip_limit": within,
        "aspects": aspects,
        "aspects_covered": usable and all(aspects.values()),
        "success": within and all(aspects.values()),
        "correct": (usable and check_instruction(text, spec).correct) if spec else None,
        **context,
    }


def rectification_metrics(items: Sequence[dict], **stats: Any) -> tuple[dict[str, Estimate], Groups]:
    metrics = {
        "rectification_success": estimate([item["success"] for item in items], **stats),
        "within_clip_limit_rate": estimate([item["within_clip_limit"] for item in items], **stats),
        "aspects_covered_rate": estimate([item["aspects_covered"] for item in items], **stats),
        "rectified_correct_rate": estimate([item["correct"] for item in items], **stats),
        "mean_clip_tokens": estimate([item["clip_tokens"] for item in items], **stats),
    }
    groups: Groups = {
        "aspect": {
            aspect: {"covered_rate": estimate([item["aspects"][aspect] for item in items], **stats)}
            for aspect in RECTIFY_ASPECTS
        }
    }
    types = sorted({item["edit_type"] for item in items if item.get("edit_type")})
    if types:
        groups["edit_type"] = {
            value: {
                "rectification_success": estimate(
                    [i["success"] for i in items if i.get("edit_type") == value], **stats
                )
            }
            for value in types
        }
    return metrics, groups


def negatives_item(item_id: str, negatives: Sequence[str], attributes: Sequence[str], spec: str, **context) -> dict:
    valid = [negative_is_valid(text, spec) for text in negatives]
    return {
        "id": item_id,
        "negatives": list(negatives),
        "attributes": list(attributes) if len(attributes) == len(negatives) else [None] * len(negatives),
        "valid": valid,
        "valid_share": sum(valid) / len(valid) if valid else None,
        **context,
    }


def negatives_metrics(items: Sequence[dict], **stats: Any) -> tuple[dict[str, Estimate], Groups]:
    flags = [flag for item in items for flag in item["valid"]]
    metrics = {
        "negative_validity": estimate(flags, **stats),
        "valid_negative_row_rate": estimate([any(item["valid"]) for item in items], **stats),
        "negatives_per_row": estimate([len(item["negatives"]) for item in items], **stats),
    }
    pairs = [(attribute, flag) for item in items for attribute, flag in zip(item["attributes"], item["valid"])]
    attributes = sorted({attribute for attribute, _ in pairs if attribute})
    groups: Groups = {
        "negative_attribute": {
            name: {"negative_validity": estimate([flag for a, flag in pairs if a == name], **stats)}
            for name in attributes
        }
    }
    return metrics, groups


def load_synthesis_output(path: str | Path) -> datasets.Dataset:
    """Every row of a synthesis output (`<output_dir>` or its `dataset/`): `train` and `rejected` together, since
    a rejected or failed row counts against the rectifier."""
    path = Path(path)
    folder = path / "dataset" if (path / "dataset").is_dir() else path
    if not folder.is_dir():
        raise FileNotFoundError(f"no synthesis output at {path}: pass the folder `edit-handbook synthesize` wrote")
    loaded = datasets.load_from_disk(str(folder))
    if isinstance(loaded, datasets.DatasetDict):
        parts = [part for part in loaded.values() if len(part)]
        loaded = datasets.concatenate_datasets(parts) if parts else next(iter(loaded.values()))
    return loaded


def evaluate_synthesis_output(
    dataset: datasets.Dataset, clip_tokenizer, output_dir: str | Path, system: str, **stats: Any
) -> list[SuiteResult]:
    """Rectification success and negative validity of a synthesis output (whichever columns it has)."""
    output_dir = Path(output_dir)
    columns = dataset.column_names
    if schema.RECTIFIED not in columns and schema.NEGATIVES not in columns:
        raise ValueError(
            f"no {schema.RECTIFIED!r} or {schema.NEGATIVES!r} column to check; the data has {', '.join(columns)}"
        )
    ids = item_ids(dataset)
    images = save_pair_images(dataset, output_dir, ids)
    specs = dataset[SPEC_COLUMN] if SPEC_COLUMN in columns else [None] * len(dataset)
    types = [json.loads(spec)["type"] if spec else None for spec in specs]
    if schema.EDIT_TYPE in columns:
        types = [given or derived for given, derived in zip(dataset[schema.EDIT_TYPE], types)]
    meta = {"items": len(dataset), "image_root": str(output_dir.resolve()), "max_clip_tokens": CLIP_MAX_TOKENS}
    results = []
    if schema.RECTIFIED in columns:
        statuses = dataset[STATUS] if STATUS in columns else [OK] * len(dataset)
        items = [
            rectification_item(
                ids[i], text, clip_tokenizer, specs[i], statuses[i], edit_type=types[i], images=images[i]
            )
            for i, text in enumerate(dataset[schema.RECTIFIED])
        ]
        metrics, groups = rectification_metrics(items, **stats)
        rectify_meta = {**meta, "item_metrics": ["success"]}
        results.append(SuiteResult(RECTIFICATION_SUITE, system, metrics, groups, items, rectify_meta, "success"))
    if schema.NEGATIVES in columns:
        if SPEC_COLUMN not in columns:
            raise ValueError(f"negative validity needs the ground truth {SPEC_COLUMN!r} of synthetic pairs")
        attributes = dataset["negative_attributes"] if "negative_attributes" in columns else [[]] * len(dataset)
        items = [
            negatives_item(
                ids[i], negatives or [], attributes[i] or [], specs[i], edit_type=types[i], images=images[i]
            )
            for i, negatives in enumerate(dataset[schema.NEGATIVES])
        ]
        metrics, groups = negatives_metrics(items, **stats)
        results.append(SuiteResult(NEGATIVES_SUITE, system, metrics, groups, items, meta, "valid_share"))
    return results
