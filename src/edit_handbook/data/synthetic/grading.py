"""Grade an instruction for a synthetic edit: correct, or an error type and a severity (minor | major | critical).

An instruction that states nothing checkable about any edit (no shape, colour, direction, rotation, zoom, number,
size, pattern or camera word: "Change the.") is critical, other: it does not describe the edit at all.
Otherwise the exact checker (`checker.check_instruction`) gives the verdict and which aspects failed; this module maps
that verdict to EditCaption's labels with the rules written in `docs/editcaption_study.md`, the same rules the
generator's flawed instructions are labelled with (`language.flawed_instructions`; a test checks that the
grade of every flawed instruction is its label):

- a wrong action -> other, critical;
- a stated value that contradicts the edit (wrong direction, object, colour, count, size, pattern) -> critical;
  its type is orientation for directions (viewpoint for camera edits), attribute for the rest;
- a direction in the subject's own frame ("to its left") or a camera edit told in neither camera nor content
  terms -> viewpoint, major;
- a required value left out -> attribute, major (a camera edit without its direction: viewpoint, minor; a new
  object without its size or pattern: attribute, minor).

Several failures: the most severe wins (ties: the first in the order above's checks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .checker import CAMERA_WORDS, CONTENT_WORDS, check_instruction, parse


VERDICTS = ("correct", "minor", "major", "critical")
CAMERA_EDITS = ("pan", "tilt", "zoom")


@dataclass(frozen=True)
class Grade:
    """`verdict` is correct | minor | major | critical; `error_type` is None when correct."""

    verdict: str
    error_type: str | None
    errors: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"

    @property
    def critical(self) -> bool:
        return self.verdict == "critical"


def _direction_words(kind: str, parsed) -> list[str]:
    if kind == "rotate":
        return parsed.rotations + parsed.directions
    if kind == "zoom":
        return parsed.zoom
    return parsed.directions


def grade_instruction(instruction: str, spec: dict | str) -> Grade:
    """The checker's verdict on `instruction` for edit `spec`, as correct or (severity, error type)."""
    spec = json.loads(spec) if isinstance(spec, str) else spec
    result = check_instruction(instruction, spec)
    if result.correct:
        return Grade("correct", None, [])
    kind, aspects, p = spec["type"], result.aspects, parse(instruction)
    if not states_content(p):
        return Grade("critical", "other", ["states nothing checkable about the edit", *result.errors])
    found: list[tuple[str, str]] = []  # (severity, error_type) per failed aspect, in check order
    if aspects["action"] is False:
        found.append(("critical", "other"))
    if aspects["object"] is False:
        found.append(("critical" if p.shapes else "major", "attribute"))
    if aspects["colour"] is False:
        found.append(("critical" if p.colours else "major", "attribute"))
    if aspects["count"] is False:
        found.append(("critical" if p.numbers else "major", "attribute"))
    if aspects["direction"] is False:
        camera = kind in CAMERA_EDITS
        words = _direction_words(kind, p)
        tokens = set(p.tokens)
        if p.subject_frame:
            found.append(("major", "viewpoint"))
        elif not words:
            found.append(("minor", "viewpoint") if camera else ("major", "attribute"))
        elif kind in ("pan", "tilt") and not tokens & (CAMERA_WORDS | CONTENT_WORDS):
            found.append(("major", "viewpoint"))
        else:
            found.append(("critical", "viewpoint" if camera else "orientation"))
    if aspects["attribute"] is False:
        stated = {
            "recolour": [c for c in p.colours if c != spec.get("object", {}).get("colour")],
            "resize": p.sizes,
            "pattern": p.patterns,
            "add": p.sizes + p.patterns,
        }.get(kind, [])
        if kind == "add" and not _contradicts_new_object(p, spec["object"]):
            found.append(("minor", "attribute"))
        else:
            found.append(("critical" if stated else "major", "attribute"))
    if not found:  # a failure no rule names: the strictest label, so nothing wrong is counted as mild
        found.append(("critical", "other"))
    rank = {severity: k for k, severity in enumerate(VERDICTS)}
    severity, error_type = max(found, key=lambda item: rank[item[0]])  # max keeps the first of equals
    return Grade(severity, error_type, list(result.errors))


def states_content(parsed) -> bool:
    """Does the text name anything an edit is made of (object, value, direction or the camera)?"""
    values = (parsed.shapes, parsed.colours, parsed.directions, parsed.rotations, parsed.zoom, parsed.numbers)
    return any(values) or bool(parsed.sizes or parsed.patterns) or bool(set(parsed.tokens) & CAMERA_WORDS)


def _contradicts_new_object(parsed, obj: dict) -> bool:
    """An added object described with a wrong size or pattern (not merely without them)."""
    wrong_size = any(size != obj["size"] for size in parsed.sizes)
    wrong_pattern = any(pattern != obj["pattern"] for pattern in parsed.patterns)
    return wrong_size or wrong_pattern
