"""Instruction quality judged by a VLM: EditCaption's ~5-point score and its human-study classification.

Every captioner writes an instruction for the same pairs; the one judge (`synth.judge.Judge`, any backend)
answers `INSTRUCTION_QUALITY` (`synth.prompts`: the rubric, correct / minor / critical, and the main error
type). Aggregates carry bootstrap intervals (`stats`). An item whose captioner gave no instruction, or whose
judge answer stayed unusable after the one repair, is excluded from the score and the rates and counted
(`judged_rate`, `meta`): it is never a silent zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets

from edit_handbook.data import schema
from edit_handbook.data.schema import ERROR_TYPES
from edit_handbook.evaluation.captioners import COLUMN, CaptionerSpec, write_instructions
from edit_handbook.evaluation.item_images import item_ids, save_pair_images
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import Estimate, estimate
from edit_handbook.synth.backends import Backend
from edit_handbook.synth.judge import Judge, Verdict
from edit_handbook.synth.prompts import INSTRUCTION_QUALITY, prompt_version


SUITE = "instruction_quality"
GROUP_COLUMNS = (schema.EDIT_TYPE, "failure_mode")


def judge_instructions(
    backend: Backend,
    dataset: datasets.Dataset,
    instructions: Sequence[str | None],
    *,
    chunk_size: int = 64,
    max_new_tokens: int = 256,
) -> list[Verdict | None]:
    """One verdict per pair (None where there is no instruction to judge), `chunk_size` pairs in memory at once."""
    judge = Judge(backend, INSTRUCTION_QUALITY, max_new_tokens)
    verdicts: list[Verdict | None] = [None] * len(instructions)
    todo = [i for i, text in enumerate(instructions) if text]
    for start in range(0, len(todo), chunk_size):
        indices = todo[start : start + chunk_size]
        rows = dataset.select(indices).select_columns(list(schema.IMAGE_COLUMNS))
        images = [{"source": row[schema.SOURCE_IMAGE], "target": row[schema.TARGET_IMAGE]} for row in rows]
        for i, verdict in zip(indices, judge(images, [instructions[i] for i in indices])):
            verdicts[i] = verdict
    return verdicts


def quality_item(
    item_id: str, instruction: str | None, caption_error: str | None, verdict: Verdict | None, **context: Any
) -> dict[str, Any]:
    """One JSON-able item: the instruction, the verdict's fields, and why it is unusable if it is."""
    usable = verdict is not None and verdict.ok
    classification = verdict.extra.get("classification") if usable else None
    return {
        "id": item_id,
        "instruction": instruction,
        "score": verdict.score if usable else None,
        "answer": verdict.answer if usable else None,
        "classification": classification,
        "error_type": verdict.extra.get("error_type") if usable else None,
        "correct": None if classification is None else classification == "correct",
        "critical": None if classification is None else classification == "critical",
        "reason": verdict.reason if usable else "",
        "error": caption_error or (verdict.error if verdict is not None else "no instruction"),
        **context,
    }


def quality_metrics(
    items: Sequence[dict], group_columns: Sequence[str] = GROUP_COLUMNS, **stats: Any
) -> tuple[dict[str, Estimate], dict[str, dict[str, dict[str, Estimate]]]]:
    """Overall metrics and groups of judged items; `stats` goes to `estimate` (seed, resamples, confidence)."""
    judged = [item for item in items if item["error"] is None]

    def rate(rows: Sequence[dict], test: Callable[[dict], bool]) -> Estimate:
        return estimate([test(item) for item in rows], **stats)

    def summary(rows: Sequence[dict]) -> dict[str, Estimate]:
        return {
            "mean_score": estimate([item["score"] for item in rows], **stats),
            "correct_rate": rate(rows, lambda item: item["classification"] == "correct"),
            "minor_error_rate": rate(rows, lambda item: item["classification"] == "minor"),
            "critical_error_rate": rate(rows, lambda item: item["classification"] == "critical"),
            "yes_rate": rate(rows, lambda item: item["answer"] is True),
        }

    metrics = {**summary(judged), "judged_rate": rate(items, lambda item: item["error"] is None)}
    groups: dict[str, dict[str, dict[str, Estimate]]] = {
        "error_type": {
            # Shares of all judged instructions, so the types of one system add up to its error rate.
            error_type: {
                "error_rate": rate(judged, lambda item, t=error_type: item["error_type"] == t),
                "critical_error_rate": rate(
                    judged, lambda item, t=error_type: item["error_type"] == t and item["critical"]
                ),
            }
            for error_type in ERROR_TYPES
        }
    }
    for column in group_columns:
        values = sorted({str(item[column]) for item in judged if item.get(column) is not None})
        if values:
            groups[column] = {
                value: summary([item for item in judged if item.get(column) == value]) for value in values
            }
    return metrics, groups


def evaluate_instructions(
    dataset: datasets.Dataset,
    captioners: Sequence[CaptionerSpec],
    make_backend: Callable[[CaptionerSpec], Backend],
    judge_backend: Backend,
    output_dir: str | Path,
    *,
    judge_max_new_tokens: int = 256,
    **stats: Any,
) -> list[SuiteResult]:
    """Every captioner's instructions for `dataset`, judged; one `SuiteResult` per captioner, same items."""
    output_dir = Path(output_dir)
    ids = item_ids(dataset)
    images = save_pair_images(dataset, output_dir, ids)
    context_columns = [name for name in (*GROUP_COLUMNS, schema.INSTRUCTION) if name in dataset.column_names]
    context = {name: dataset[name] for name in context_columns}
    results = []
    for spec in captioners:
        texts, caption_errors, described = write_instructions(spec, dataset, make_backend)
        verdicts = judge_instructions(judge_backend, dataset, texts, max_new_tokens=judge_max_new_tokens)
        items = []
        for i, (text, caption_error, verdict) in enumerate(zip(texts, caption_errors, verdicts)):
            extra = {name: values[i] for name, values in context.items() if name != schema.INSTRUCTION}
            if schema.INSTRUCTION in context and not (spec.kind == COLUMN and spec.target == schema.INSTRUCTION):
                extra["reference"] = context[schema.INSTRUCTION][i]
            items.append(quality_item(ids[i], text, caption_error, verdict, images=images[i], **extra))
        metrics, groups = quality_metrics(items, **stats)
        meta = {
            "question": INSTRUCTION_QUALITY.name,
            "prompt_version": prompt_version(),
            "captioner": described,
            "judge": judge_backend.describe(),
            "items": len(items),
            "captioner_failures": sum(error is not None for error in caption_errors),
            "judge_failures": sum(verdict is not None and not verdict.ok for verdict in verdicts),
            "image_root": str(output_dir.resolve()),
            "item_metrics": ["score", "correct", "critical"],
        }
        results.append(SuiteResult(SUITE, spec.name, metrics, groups, items, meta, rank_key="score"))
    return results
