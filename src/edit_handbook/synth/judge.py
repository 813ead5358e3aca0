"""The one VLM judge: a yes/no verdict, a 0..N score and a reason per (images, instruction), on any backend.

The synthesis `filter` task (EditCaption's EditScore step) and the evaluation suite ask it their
`JudgeQuestion`s; a question may ask for extra fields with fixed choices (`JudgeField`, e.g. the
instruction-quality classification), which land in `Verdict.extra`. Parsing is a pure function that never
raises: an answer that is not JSON, misses a field or is out of range becomes a `Verdict` whose `error` says
which, and the row is kept with that reason.
An unreadable answer gets one repair attempt (`backends.ask_json`) before it counts as an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from PIL import Image

from edit_handbook.synth.backends import Backend, Request, ask_json, parse_json_object
from edit_handbook.synth.prompts import (
    INSTRUCTION_ACCURACY,
    JudgeField,
    JudgeQuestion,
    judge_messages,
    judge_schema,
)


YES, NO = ("yes", "true"), ("no", "false")


@dataclass(frozen=True)
class Verdict:
    """`answer` (True = yes) and `score` are None exactly when `error` says why the answer was unusable.

    `extra` holds the question's extra fields (name -> the chosen value, lower case); empty when unusable.
    """

    answer: bool | None
    score: float | None
    reason: str
    error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def _read_fields(answer: Mapping, fields: Sequence[JudgeField]) -> tuple[dict[str, str], list[str]]:
    """The extra fields' values and the problems with them (missing, not a choice, inconsistent)."""
    values, problems = {}, []
    for spec in fields:
        value = answer.get(spec.name)
        if spec.name not in answer:
            problems.append(f"missing field {spec.name!r}")
        elif isinstance(value, str) and value.strip().lower() in spec.choices:
            values[spec.name] = value.strip().lower()
        else:
            problems.append(f"{spec.name!r} must be one of {', '.join(spec.choices)}, got {value!r}")
    for spec in fields:
        if spec.empty_when is None or spec.name not in values or spec.empty_when[0] not in values:
            continue
        other, trigger = spec.empty_when
        if (values[spec.name] == spec.choices[0]) != (values[other] == trigger):
            problems.append(
                f"{spec.name!r} must be {spec.choices[0]!r} exactly when {other!r} is {trigger!r}, "
                f"got {values[spec.name]!r} with {other} {values[other]!r}"
            )
    return values, problems


def read_verdict(answer: Mapping, max_score: int = 5, fields: Sequence[JudgeField] = ()) -> Verdict:
    """A verdict from a decoded JSON object; ValueError naming every missing or bad field."""
    problems = [f"missing field {name!r}" for name in ("answer", "score", "reason") if name not in answer]
    verdict = answer.get("answer")
    if isinstance(verdict, bool):
        yes = verdict
    elif isinstance(verdict, str) and verdict.strip().lower() in YES + NO:
        yes = verdict.strip().lower() in YES
    else:
        yes = None
        if "answer" in answer:
            problems.append(f"'answer' must be 'yes' or 'no', got {verdict!r}")
    score = answer.get("score")
    if "score" in answer:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            problems.append(f"'score' must be a number, got {score!r}")
        elif not 0 <= score <= max_score:
            problems.append(f"'score' {score} is outside [0, {max_score}]")
    reason = answer.get("reason")
    if "reason" in answer and not isinstance(reason, str):
        problems.append(f"'reason' must be text, got {type(reason).__name__}")
    extra, field_problems = _read_fields(answer, fields)
    problems += field_problems
    if problems:
        raise ValueError("; ".join(problems))
    return Verdict(answer=yes, score=float(score), reason=reason.strip(), extra=extra)


def parse_judge_answer(text: str, max_score: int = 5, fields: Sequence[JudgeField] = ()) -> Verdict:
    """Parse a judge's raw answer; never raises (the problem goes into `Verdict.error`)."""
    try:
        return read_verdict(parse_json_object(text), max_score, fields)
    except ValueError as error:
        return Verdict(answer=None, score=None, reason="", error=str(error))


class Judge:
    """Asks one `JudgeQuestion` about many items on a backend; one `Verdict` per item, in order."""

    def __init__(self, backend: Backend, question: JudgeQuestion = INSTRUCTION_ACCURACY, max_new_tokens: int = 128):
        self.backend = backend
        self.question = question
        self.max_new_tokens = max_new_tokens

    def requests(self, images: Sequence[Mapping[str, Image.Image]], instructions: Sequence[str]) -> list[Request]:
        return [
            Request(
                judge_messages(self.question, instruction),
                [named[name] for name in self.question.images],
                self.max_new_tokens,
                judge_schema(self.question.max_score, self.question.fields),
            )
            for named, instruction in zip(images, instructions, strict=True)
        ]

    def __call__(self, images: Sequence[Mapping[str, Image.Image]], instructions: Sequence[str]) -> list[Verdict]:
        """`images[i]` maps the names the question uses ("source", "target") to item i's images."""
        results = ask_json(
            self.backend,
            self.requests(images, instructions),
            lambda answer: read_verdict(answer, self.question.max_score, self.question.fields),
        )
        return [
            value if error is None else Verdict(answer=None, score=None, reason="", error=error)
            for value, error, _ in results
        ]
