"""The four synthesis tasks: caption, filter, rectify, negatives.

A task turns a chunk of rows (images decoded) into the columns it writes, plus `synthesis_status`
("ok", "rejected" by a rule, or "failed" with no usable answer), `synthesis_reason` and `prompt_version`,
for every row: nothing is dropped, so a run's output always holds each input row exactly once.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

import datasets

from edit_handbook.data import schema
from edit_handbook.data.synthetic import check_instruction
from edit_handbook.editcaption.prompts import CLIP_MAX_TOKENS, get_task, prompt_messages
from edit_handbook.synth.backends import Backend, Request, ask_json
from edit_handbook.synth.judge import Judge
from edit_handbook.synth.prompts import (
    INSTRUCTION_ACCURACY,
    NEGATIVE_ATTRIBUTES,
    NEGATIVES_SCHEMA,
    negatives_messages,
    prompt_version,
    summarise_messages,
)


STATUS, REASON, PROMPT_VERSION = "synthesis_status", "synthesis_reason", "prompt_version"
OK, REJECTED, FAILED = "ok", "rejected", "failed"
STATUS_COLUMNS = {
    STATUS: datasets.Value("string"),
    REASON: datasets.Value("string"),
    PROMPT_VERSION: datasets.Value("string"),
}
_STRINGS = datasets.Sequence(datasets.Value("string"))
# Words that carry no edit content: two instructions with the same remaining words say the same thing.
_FILLER = frozenset(
    {"a", "an", "the", "to", "of", "in", "on", "at", "and", "its", "it", "is", "so", "that", "with", "by", "from"}
    | {"into", "this", "please", "image"}
)


def clip_token_count(tokenizer, text: str) -> int:
    """Length in CLIP tokens counting begin and end, never truncated (SuperEdit's 77-token budget)."""
    return len(tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def content_words(text: str) -> frozenset[str]:
    """The words of an instruction that carry its meaning (order, case, punctuation and filler ignored)."""
    return frozenset(re.findall(r"[a-z0-9]+", text.lower())) - _FILLER


def _outcome(status: str = OK, reason: str = "", **columns: Any) -> dict[str, Any]:
    return {STATUS: status, REASON: reason, PROMPT_VERSION: prompt_version(), **columns}


def _pair_request(task: str, row: dict, max_new_tokens: int | None = None) -> Request:
    instruction = row.get(schema.INSTRUCTION) if get_task(task).needs_instruction else None
    return Request(
        prompt_messages(task, instruction),
        [row[schema.SOURCE_IMAGE], row[schema.TARGET_IMAGE]],
        max_new_tokens or get_task(task).max_new_tokens,
    )


class Task(ABC):
    """A synthesis task: `columns` it writes; `__call__(rows, backend)` gives one outcome per row."""

    name: str
    columns: dict[str, Any]

    @abstractmethod
    def __call__(self, rows: Sequence[dict], backend: Backend) -> list[dict[str, Any]]:
        """One outcome (the task's columns plus status, reason and prompt version) per row, in order."""

    def settings(self) -> dict[str, Any]:
        """What changes the output (part of the job fingerprint and the card)."""
        return {}

    def summary(self, dataset: datasets.Dataset) -> dict[str, Any]:
        """Task-specific figures over all rows of a finished run."""
        return {}


class CaptionTask(Task):
    """Write the instruction of each pair (EditCaption's caption prompt); the old one is kept beside it."""

    name = "caption"
    columns = {schema.INSTRUCTION: datasets.Value("string"), "original_instruction": datasets.Value("string")}

    def __init__(self, max_new_tokens: int | None = None) -> None:
        self.max_new_tokens = max_new_tokens

    def settings(self):
        return {"max_new_tokens": self.max_new_tokens}

    def __call__(self, rows, backend):
        replies = backend.generate([_pair_request("caption", row, self.max_new_tokens) for row in rows])
        outcomes = []
        for row, reply in zip(rows, replies):
            original = row.get(schema.INSTRUCTION)
            if not reply.ok or not reply.text:
                reason = reply.error or "empty answer"
                outcomes.append(_outcome(FAILED, reason, instruction=original, original_instruction=original))
            else:
                outcomes.append(_outcome(instruction=reply.text, original_instruction=original))
        return outcomes


class FilterTask(Task):
    """Score (pair, instruction) with the judge; rows scoring below `threshold` are rejected, score kept."""

    name = "filter"
    columns = {
        "judge_score": datasets.Value("float32"),
        "judge_answer": datasets.Value("string"),
        "judge_reason": datasets.Value("string"),
    }

    def __init__(self, threshold: float = 4.0, max_new_tokens: int = 128) -> None:
        self.threshold = threshold
        self.max_new_tokens = max_new_tokens

    def settings(self):
        return {
            "threshold": self.threshold,
            "question": INSTRUCTION_ACCURACY.name,
            "max_new_tokens": self.max_new_tokens,
        }

    def __call__(self, rows, backend):
        judge = Judge(backend, INSTRUCTION_ACCURACY, self.max_new_tokens)
        images = [{"source": row[schema.SOURCE_IMAGE], "target": row[schema.TARGET_IMAGE]} for row in rows]
        outcomes = []
        for verdict in judge(images, [row[schema.INSTRUCTION] for row in rows]):
            if not verdict.ok:
                outcomes.append(_outcome(FAILED, verdict.error, judge_score=None, judge_answer=None, judge_reason=""))
                continue
            status, reason = OK, ""
            if verdict.score < self.threshold:
                status, reason = REJECTED, f"judge score {verdict.score:g} below threshold {self.threshold:g}"
            answer = "yes" if verdict.answer else "no"
            outcomes.append(
                _outcome(status, reason, judge_score=verdict.score, judge_answer=answer, judge_reason=verdict.reason)
            )
        return outcomes


class RectifyTask(Task):
    """SuperEdit rectification within CLIP's 77 tokens: a longer answer is summarised by a second call."""

    name = "rectify"
    columns = {
        schema.RECTIFIED: datasets.Value("string"),
        "rectify_clip_tokens": datasets.Value("int32"),
        "rectify_summarised": datasets.Value("bool"),
        "rectify_long_answer": datasets.Value("string"),
    }

    def __init__(self, clip_tokenizer, max_clip_tokens: int = CLIP_MAX_TOKENS, max_new_tokens: int | None = None):
        self.clip_tokenizer = clip_tokenizer
        self.max_clip_tokens = max_clip_tokens
        self.max_new_tokens = max_new_tokens

    def settings(self):
        return {"max_clip_tokens": self.max_clip_tokens, "max_new_tokens": self.max_new_tokens}

    def __call__(self, rows, backend):
        replies = backend.generate([_pair_request("rectify", row, self.max_new_tokens) for row in rows])
        answers = [reply.text if reply.ok and reply.text else None for reply in replies]
        lengths = [clip_token_count(self.clip_tokenizer, a) if a else 0 for a in answers]
        long = [i for i, n in enumerate(lengths) if n > self.max_clip_tokens]
        # ~0.75 words per CLIP token on English prose, minus room for punctuation.
        max_words = max(8, int(self.max_clip_tokens * 0.6))
        requests = [
            Request(summarise_messages(answers[i], max_words), [], get_task("rectify").max_new_tokens) for i in long
        ]
        summaries = dict(zip(long, backend.generate(requests)))
        outcomes = []
        for i, reply in enumerate(replies):
            empty = {schema.RECTIFIED: None, "rectify_clip_tokens": 0, "rectify_summarised": False}
            if answers[i] is None:
                outcomes.append(_outcome(FAILED, reply.error or "empty answer", rectify_long_answer="", **empty))
                continue
            if i not in summaries:
                outcomes.append(
                    _outcome(
                        rectified_instruction=answers[i],
                        rectify_clip_tokens=lengths[i],
                        rectify_summarised=False,
                        rectify_long_answer="",
                    )
                )
                continue
            summary = summaries[i]
            if not summary.ok or not summary.text:
                reason = f"answer has {lengths[i]} CLIP tokens; summarising failed: {summary.error or 'empty answer'}"
                outcomes.append(_outcome(FAILED, reason, rectify_long_answer=answers[i], **empty))
                continue
            count = clip_token_count(self.clip_tokenizer, summary.text)
            status, reason = OK, ""
            if count > self.max_clip_tokens:
                status = REJECTED
                reason = f"still {count} CLIP tokens after summarising (limit {self.max_clip_tokens})"
            outcomes.append(
                _outcome(
                    status,
                    reason,
                    rectified_instruction=summary.text,
                    rectify_clip_tokens=count,
                    rectify_summarised=True,
                    rectify_long_answer=answers[i],
                )
            )
        return outcomes

    def summary(self, dataset):
        """Rows, how many needed the summarising call, and on synthetic pairs the checker-verified success rate."""
        figures = {"rectify_rows": len(dataset), "rectify_summarised": sum(dataset["rectify_summarised"])}
        if "edit_spec" in dataset.column_names and len(dataset):
            rows = zip(dataset[STATUS], dataset[schema.RECTIFIED], dataset["edit_spec"])
            correct = sum(status == OK and check_instruction(text, spec).correct for status, text, spec in rows)
            figures.update(rectify_correct=correct, rectification_rate=correct / len(dataset))
        return figures


def screen_negatives(
    positive: str, candidates: Sequence[tuple[str, str]], clip_tokenizer, k: int, max_clip_tokens: int
) -> tuple[list[tuple[str, str]], list[str]]:
    """Keep up to `k` (instruction, attribute) candidates; the others come back as "reason: text".

    Rejected: an unknown attribute, empty, identical to or a near-paraphrase of the positive (same content
    words), longer than `max_clip_tokens`, a duplicate of an earlier candidate, or beyond the first `k`.
    """
    kept: list[tuple[str, str]] = []
    rejected: list[str] = []
    seen = {content_words(positive)}
    for text, attribute in candidates:
        text = text.strip()
        words = content_words(text)
        if attribute not in NEGATIVE_ATTRIBUTES:
            reason = f"unknown attribute {attribute!r}"
        elif not words:
            reason = "empty"
        elif text.lower() == positive.strip().lower():
            reason = "identical to the positive"
        elif words == content_words(positive):
            reason = "near-paraphrase of the positive"
        elif clip_token_count(clip_tokenizer, text) > max_clip_tokens:
            reason = f"too long ({clip_token_count(clip_tokenizer, text)} CLIP tokens)"
        elif words in seen:
            reason = "duplicate"
        elif len(kept) >= k:
            reason = f"more than k={k}"
        else:
            kept.append((text, attribute))
            seen.add(words)
            continue
        rejected.append(f"{reason}: {text}")
    return kept, rejected


def negative_is_valid(negative: str, edit_spec: str | dict) -> bool:
    """Ground-truth check on synthetic pairs: the checker rejects it, on exactly one aspect of the edit."""
    result = check_instruction(negative, edit_spec)
    return not result.correct and sum(held is False for held in result.aspects.values()) == 1


def _read_candidates(answer: dict) -> list[tuple[str, str]]:
    items = answer.get("negatives")
    if not isinstance(items, list):
        raise ValueError("missing list field 'negatives'")
    candidates = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("instruction"), str):
            raise ValueError(f"negatives[{index}] must be an object with a text 'instruction'")
        candidates.append((item["instruction"], str(item.get("attribute", "")).strip().lower()))
    return candidates


class NegativesTask(Task):
    """k wrong instructions, each changing one attribute of the positive (the rectified one when present)."""

    name = "negatives"
    columns = {
        schema.NEGATIVES: _STRINGS,
        "negative_attributes": _STRINGS,
        "negatives_rejected": _STRINGS,
        "negative_valid": datasets.Sequence(datasets.Value("bool")),
    }

    def __init__(
        self,
        clip_tokenizer,
        k: int = 4,
        min_negatives: int = 1,
        max_clip_tokens: int = CLIP_MAX_TOKENS,
        max_new_tokens: int = 256,
    ) -> None:
        self.clip_tokenizer = clip_tokenizer
        self.k, self.min_negatives = k, min_negatives
        self.max_clip_tokens, self.max_new_tokens = max_clip_tokens, max_new_tokens

    def settings(self):
        return {"k": self.k, "min_negatives": self.min_negatives, "max_clip_tokens": self.max_clip_tokens}

    @staticmethod
    def positive(row: dict) -> str:
        return row.get(schema.RECTIFIED) or row[schema.INSTRUCTION]

    def __call__(self, rows, backend):
        requests = [
            Request(
                negatives_messages(self.positive(row), self.k, self.max_clip_tokens),
                [row[schema.SOURCE_IMAGE], row[schema.TARGET_IMAGE]],
                self.max_new_tokens,
                NEGATIVES_SCHEMA,
            )
            for row in rows
        ]
        outcomes = []
        for row, (candidates, error, _) in zip(rows, ask_json(backend, requests, _read_candidates)):
            empty = {schema.NEGATIVES: [], "negative_attributes": [], "negative_valid": []}
            if error is not None:
                outcomes.append(_outcome(FAILED, error, negatives_rejected=[], **empty))
                continue
            kept, rejected = screen_negatives(
                self.positive(row), candidates, self.clip_tokenizer, self.k, self.max_clip_tokens
            )
            spec = row.get("edit_spec")
            valid = [negative_is_valid(text, spec) for text, _ in kept] if spec else []
            status, reason = OK, ""
            if len(kept) < self.min_negatives:
                status, reason = REJECTED, f"{len(kept)} usable negatives, fewer than {self.min_negatives}"
            outcomes.append(
                _outcome(
                    status,
                    reason,
                    negative_instructions=[text for text, _ in kept],
                    negative_attributes=[attribute for _, attribute in kept],
                    negatives_rejected=rejected,
                    negative_valid=valid,
                )
            )
        return outcomes

    def summary(self, dataset):
        checked = [flag for flags in dataset["negative_valid"] for flag in flags]
        rejected = Counter(text.split(":", 1)[0] for texts in dataset["negatives_rejected"] for text in texts)
        return {
            "negatives_kept": sum(len(texts) for texts in dataset[schema.NEGATIVES]),
            "negatives_rejected": dict(rejected),
            "negatives_checked": len(checked),
            "negative_validity_rate": sum(checked) / len(checked) if checked else None,
        }


TASK_NAMES = ("caption", "filter", "rectify", "negatives")


def make_task(name: str, *, clip_tokenizer=None, **settings: Any) -> Task:
    """Build a task by name; `rectify` and `negatives` need the CLIP tokenizer that measures their answers."""
    if name == "caption":
        return CaptionTask(**settings)
    if name == "filter":
        return FilterTask(**settings)
    if name in ("rectify", "negatives"):
        if clip_tokenizer is None:
            from edit_handbook.models import load_clip_tokenizer

            clip_tokenizer = load_clip_tokenizer()
        return (RectifyTask if name == "rectify" else NegativesTask)(clip_tokenizer, **settings)
    raise ValueError(f"unknown synthesis task {name!r}; choose from {', '.join(TASK_NAMES)}")


def fingerprint_settings(task: Task) -> str:
    return json.dumps({"task": task.name, **task.settings()}, sort_keys=True)
