"""Check a free-text instruction against a synthetic edit's ground truth, without any model.

The parser reads the closed vocabulary (colours, shapes, directions, counts, sizes, patterns,
action verbs) out of the text; the checker then asks, per edit type, whether everything the
edit needs is said and nothing said contradicts it. It is strict on purpose: an instruction
that names a wrong colour, a wrong direction or an extra count is wrong even if it also says
the right thing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .vocabulary import COLOURS, NUMBER_WORDS, OPPOSITE, PATTERNS, PLURALS, SHAPES, SYNONYMS


ACTIONS = {
    "move": {"move", "shift", "slide", "drag", "reposition"},
    "mirror": {"mirror", "flip", "reflect"},
    "rotate": {"rotate", "spin"},
    "pan": {"pan"},
    "tilt": {"tilt"},
    "zoom": {"zoom"},
    "add": {"add", "insert"},
    "remove": {"remove", "delete", "erase"},
}
DIRECTIONS = ("left", "right", "up", "down")
CAMERA_WORDS = {"camera", "pan", "tilt", "view", "viewpoint"}
CONTENT_WORDS = {"scene", "everything", "content", "objects", "shapes", "image"}
ASPECTS = ("action", "object", "colour", "direction", "count", "attribute")


@dataclass
class Parsed:
    """What the text says, in the closed vocabulary, in order of appearance."""

    tokens: list[str]
    colours: list[str] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    rotations: list[str] = field(default_factory=list)
    zoom: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    actions: set[str] = field(default_factory=set)
    subject_frame: bool = False  # "to its left": whose left is ambiguous


def parse(text: str) -> Parsed:
    raw = re.findall(r"[a-z]+(?:-[a-z]+)?|\d+", text.lower())
    tokens = [SYNONYMS.get(t, t) for t in raw]
    p = Parsed(tokens=tokens)
    for i, tok in enumerate(tokens):
        if tok in COLOURS:
            p.colours.append(tok)
        elif tok in SHAPES or tok in PLURALS:
            p.shapes.append(PLURALS.get(tok, tok))
        elif tok in DIRECTIONS:
            p.directions.append(tok)
            p.subject_frame |= i > 0 and tokens[i - 1] == "its"
        elif tok in ("clockwise", "counterclockwise"):
            p.rotations.append(tok)
        elif tok in ("larger", "smaller", "large", "small"):
            p.sizes.append(tok)
        elif tok in PATTERNS:
            p.patterns.append(tok)
        elif tok in NUMBER_WORDS:
            p.numbers.append(NUMBER_WORDS[tok])
        if tok in ("in", "out") and "zoom" in tokens[max(0, i - 3) : i]:
            p.zoom.append(tok)
        p.actions.update(name for name, verbs in ACTIONS.items() if tok in verbs)
    return p


@dataclass
class CheckResult:
    """`correct` is the verdict; `aspects` says which parts held (None: not part of this edit)."""

    correct: bool
    errors: list[str]
    aspects: dict[str, bool | None]


class _Check:
    def __init__(self, parsed: Parsed):
        self.p = parsed
        self.errors: list[str] = []
        self.aspects: dict[str, bool | None] = dict.fromkeys(ASPECTS)

    def require(self, aspect: str, ok: bool, message: str) -> None:
        self.aspects[aspect] = bool(ok) and self.aspects[aspect] is not False
        if not ok:
            self.errors.append(message)

    def action(self, expected: str | None) -> None:
        wrong = self.p.actions - {expected}
        ok = not wrong and (expected is None or expected in self.p.actions)
        self.require(
            "action", ok, f"action: expected {expected or 'no special verb'}, found {sorted(self.p.actions) or 'none'}"
        )

    def object(self, obj: dict, *, allowed_colours: set[str] = frozenset(), plural_ok: bool = False) -> None:
        shapes_ok = self.p.shapes and set(self.p.shapes) == {obj["shape"]}
        self.require("object", shapes_ok, f"object: expected {obj['shape']}, found {self.p.shapes or 'none'}")
        colours = set(self.p.colours)
        colour_ok = obj["colour"] in colours and colours <= {obj["colour"], *allowed_colours}
        self.require("colour", colour_ok, f"colour: expected {obj['colour']}, found {self.p.colours or 'none'}")
        if not plural_ok:
            self.require("count", set(self.p.numbers) <= {1}, f"count: expected one, found {self.p.numbers}")

    def direction(self, expected: str, found: list[str]) -> None:
        ok = expected in found and all(d == expected for d in found) and not self.p.subject_frame
        frame = " (ambiguous 'its' frame)" if self.p.subject_frame else ""
        self.require("direction", ok, f"direction: expected {expected}, found {found or 'none'}{frame}")


def check_instruction(instruction: str, spec: dict | str) -> CheckResult:
    """Is `instruction` a correct description of the synthetic edit `spec` (dict or its JSON)?"""
    spec = json.loads(spec) if isinstance(spec, str) else spec
    p = parse(instruction)
    c = _Check(p)
    kind, obj = spec["type"], spec.get("object")
    if kind == "move":
        c.action("move")
        c.object(obj)
        c.direction(spec["direction"], p.directions)
    elif kind in ("mirror", "rotate"):
        c.action(kind)
        c.object(obj)
        if kind == "rotate":
            c.direction(spec["rotation"], p.rotations)
        c.direction(spec["heading"], p.directions)
    elif kind in ("pan", "tilt"):
        _check_camera_shift(c, kind, spec["direction"])
    elif kind == "zoom":
        c.action("zoom")
        c.direction(spec["direction"], p.zoom)
    elif kind == "recolour":
        c.action(None)
        c.object(obj, allowed_colours={spec["colour"]})
        ok = bool(p.colours) and p.colours[-1] == spec["colour"] and spec["colour"] != obj["colour"]
        c.require("attribute", ok, f"colour change: expected to {spec['colour']}, found {p.colours}")
    elif kind == "resize":
        c.action(None)
        c.object(obj)
        wanted = {"larger": {"larger", "large"}, "smaller": {"smaller", "small"}}[spec["size"]]
        c.require("attribute", p.sizes and set(p.sizes) <= wanted, f"size: expected {spec['size']}, found {p.sizes}")
    elif kind == "pattern":
        c.action(None)
        c.object(obj)
        ok = set(p.patterns) == {spec["pattern"]}
        c.require("attribute", ok, f"pattern: expected {spec['pattern']}, found {p.patterns}")
    elif kind == "count":
        c.action(None)
        c.object(obj, plural_ok=True)
        c.require("count", set(p.numbers) == {spec["count"]}, f"count: expected {spec['count']}, found {p.numbers}")
    elif kind == "add":
        c.action("add")
        c.object(obj)
        pattern_ok = set(p.patterns) == {obj["pattern"]} or (obj["pattern"] == "plain" and not p.patterns)
        ok = set(p.sizes) == {obj["size"]} and pattern_ok
        c.require(
            "attribute", ok, f"new object: expected {obj['size']} {obj['pattern']}, found {p.sizes + p.patterns}"
        )
        c.direction(spec["side"], p.directions)
    elif kind == "remove":
        c.action("remove")
        c.object(obj)
    else:
        raise ValueError(f"unknown edit type {kind!r}")
    return CheckResult(correct=not c.errors, errors=c.errors, aspects=c.aspects)


def _check_camera_shift(c: _Check, kind: str, camera_direction: str) -> None:
    """Camera words describe the camera's motion; content words the opposite motion of the content."""
    tokens = set(c.p.tokens)
    if tokens & CAMERA_WORDS:
        ok = c.p.actions <= {kind, "move"}
        c.require("action", ok, f"action: expected {kind}, found {sorted(c.p.actions)}")
        c.direction(camera_direction, c.p.directions)
    elif tokens & CONTENT_WORDS:
        c.action("move")
        c.direction(OPPOSITE[camera_direction], c.p.directions)
    else:
        c.require("direction", False, "viewpoint: says neither what the camera did nor how the content moved")
        if c.p.shapes or c.p.actions - {kind, "move"}:  # "Change the colour of the square.": another edit
            c.require(
                "action", False, f"action: expected {kind}, found an edit of {c.p.shapes or sorted(c.p.actions)}"
            )
