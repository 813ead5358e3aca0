"""Instructions for synthetic edits: the reference, the SuperEdit-style rectified description,
single-attribute negatives, and realistic flawed instructions labelled with an error type and
severity (the rejected side of preference pairs).

One template per edit type keeps the vocabulary closed, so every sentence here can be checked
exactly by `checker.check_instruction`.
"""

from __future__ import annotations

import random

from .scene import Scene
from .vocabulary import COLOURS, COUNT_WORD, OPPOSITE, SHAPES


COLUMNS, ROWS = ("left", "centre", "right"), ("top", "middle", "bottom")


def _name(obj: dict) -> str:
    return f"{obj['colour']} {obj['shape']}"


def scene_description(scene: Scene) -> str:
    """Every object whose centre is in frame, left to right: "<size> <colour> <pattern> <shape> <row> <column>"
    (arrows add "pointing <heading>").

    The dense single-image answer that teaches a tiny VLM to see the scenes before it learns to compare two
    (what a pretrained VLM can already do); the row and column are thirds of the image as the viewer sees it.
    """
    parts = []
    for obj in sorted(scene.objects, key=lambda o: (o.x, o.y)):
        x = (obj.x - scene.camera.x) * scene.camera.zoom + 0.5
        y = (obj.y - scene.camera.y) * scene.camera.zoom + 0.5
        if 0 <= x < 1 and 0 <= y < 1:
            where = f"{ROWS[int(y * 3)]} {COLUMNS[int(x * 3)]}"
            pointing = f" pointing {obj.heading}" if obj.shape == "arrow" else ""
            parts.append(f"{obj.size} {obj.colour} {obj.pattern} {obj.shape}{pointing} {where}")
    return "; ".join(parts) + "." if parts else "Nothing."


def reference_instruction(spec: dict) -> str:
    """The correct imperative instruction for an edit spec."""
    kind, obj = spec["type"], spec.get("object")
    if kind == "move":
        where = f"to the {spec['direction']}" if spec["direction"] in ("left", "right") else spec["direction"]
        return f"Move the {_name(obj)} {where}."
    if kind == "mirror":
        return f"Mirror the {_name(obj)} so it points {spec['heading']}."
    if kind == "rotate":
        return f"Rotate the {_name(obj)} 90 degrees {spec['rotation']} so it points {spec['heading']}."
    if kind == "pan":
        return f"Pan the camera to the {spec['direction']}."
    if kind == "tilt":
        return f"Tilt the camera {spec['direction']}."
    if kind == "zoom":
        return f"Zoom the camera {spec['direction']}."
    if kind == "recolour":
        return f"Change the colour of the {_name(obj)} to {spec['colour']}."
    if kind == "resize":
        return f"Make the {_name(obj)} {spec['size']}."
    if kind == "pattern":
        return f"Give the {_name(obj)} a {spec['pattern']} pattern."
    if kind == "count":
        return f"Change the number of {_name(obj)}s to {COUNT_WORD[spec['count']]}."
    if kind == "add":
        return f"Add a {obj['size']} {obj['colour']} {obj['pattern']} {obj['shape']} on the {spec['side']}."
    if kind == "remove":
        return f"Remove the {_name(obj)}."
    raise ValueError(f"unknown edit type {kind!r}")


_ASPECTS = {
    "move": "Layout: the {name} shifts {dir}. Objects: the {name} keeps its look. Details: other shapes stay put.",
    "mirror": "Layout: unchanged. Objects: the {name} is mirrored to point {heading}. Details: edges stay sharp.",
    "rotate": "Layout: unchanged. Objects: the {name} turns to point {heading}. Details: edges stay sharp.",
    "pan": "Layout: the whole view shifts as the camera pans. Objects: all shapes unchanged. Details: kept.",
    "tilt": "Layout: the whole view shifts as the camera tilts. Objects: all shapes unchanged. Details: kept.",
    "zoom": "Layout: the framing changes as the camera zooms. Objects: all shapes unchanged. Details: kept.",
    "recolour": "Layout: unchanged. Objects: the {shape} becomes {colour}. Details: its outline is kept.",
    "resize": "Layout: unchanged. Objects: the {name} grows {size} in place. Details: its fill is kept.",
    "pattern": "Layout: unchanged. Objects: the {name} gets a {pattern} fill. Details: the outline is kept.",
    "count": "Layout: copies appear. Objects: {count} {name}s in all. Details: the copies match.",
    "add": "Layout: a new shape appears on the {side}. Objects: others unchanged. Details: edges are sharp.",
    "remove": "Layout: the {name} is gone. Objects: others unchanged. Details: the background fills in.",
}


def rectified_description(spec: dict) -> str:
    """SuperEdit's four-aspect description (layout, objects, details, style), well under 77 CLIP tokens."""
    obj = spec.get("object") or {}
    fields = {
        "name": _name(obj) if obj else "",
        "shape": obj.get("shape", ""),
        "dir": spec.get("direction", ""),
        "heading": spec.get("heading", ""),
        "colour": spec.get("colour", ""),
        "size": spec.get("size", ""),
        "pattern": spec.get("pattern", ""),
        "count": COUNT_WORD.get(spec.get("count", 0), ""),
        "side": spec.get("side", ""),
    }
    aspects = _ASPECTS[spec["type"]].format(**fields)
    return f"{reference_instruction(spec)} {aspects} Style: flat colours, unchanged."


def _other(rng: random.Random, options, *exclude: str) -> str:
    return rng.choice([o for o in options if o not in exclude])


def negative_instructions(spec: dict, rng: random.Random) -> list[tuple[str, str]]:
    """Wrong instructions that each change exactly one attribute: (text, attribute) with attribute
    in SuperEdit's quantity | position | object | colour."""
    kind, obj = spec["type"], spec.get("object")
    out: list[tuple[str, str]] = []
    if obj is not None:
        colours = {obj["colour"], spec.get("colour", "")}
        out.append((reference_instruction(_with_object(spec, colour=_other(rng, COLOURS, *colours))), "colour"))
        out.append(
            (reference_instruction(_with_object(spec, shape=_other(rng, SHAPES, obj["shape"], "arrow"))), "object")
        )
        if kind != "add":
            count = spec["count"] + 1 if kind == "count" else 2
            out.append((_pluralised(spec, count), "quantity"))
    flipped = _flip_direction(spec)
    if flipped is not None:
        out.append((reference_instruction(flipped), "position"))
    return out


def _with_object(spec: dict, **changes: str) -> dict:
    return {**spec, "object": {**spec["object"], **changes}}


def _pluralised(spec: dict, count: int) -> str:
    """The reference with the object's count changed ("the red circle" -> "the two red circles")."""
    if spec["type"] == "count":
        return reference_instruction({**spec, "count": count})
    name = _name(spec["object"])
    return reference_instruction(spec).replace(f"the {name}", f"the {COUNT_WORD[count]} {name}s", 1)


def _flip_direction(spec: dict) -> dict | None:
    """The spec with its direction-like field reversed, or None if it has none."""
    if spec["type"] == "rotate":
        rotation = "counterclockwise" if spec["rotation"] == "clockwise" else "clockwise"
        return {**spec, "rotation": rotation, "heading": OPPOSITE[spec["heading"]]}
    for key in ("direction", "heading", "side"):
        if key in spec:
            return {**spec, key: OPPOSITE[spec[key]]}
    return None


def flawed_instructions(spec: dict, rng: random.Random) -> list[tuple[str, str, str]]:
    """Realistic wrong instructions of the kinds VLM captioners produce: (text, error_type, severity)."""
    kind, obj = spec["type"], spec.get("object")
    out: list[tuple[str, str, str]] = []
    flipped = _flip_direction(spec)
    if kind in ("pan", "tilt", "zoom"):
        out.append((reference_instruction(flipped), "viewpoint", "critical"))  # camera vs content confusion
        out.append((f"{kind.capitalize()} the camera.", "viewpoint", "minor"))
        return out
    if flipped is not None:
        out.append((reference_instruction(flipped), "orientation", "critical"))
    if kind == "move" and spec["direction"] in ("left", "right"):
        opposite = OPPOSITE[spec["direction"]]
        out.append((f"Move the {_name(obj)} to its {opposite}.", "viewpoint", "major"))  # subject's own frame
    out.append(
        (
            reference_instruction(
                _with_object(spec, colour=_other(rng, COLOURS, obj["colour"], spec.get("colour", "")))
            ),
            "attribute",
            "critical",
        )
    )
    out.append((_vague(spec), "attribute", "major"))
    if kind == "add":
        out.append((f"Add a {obj['colour']} {obj['shape']} on the {spec['side']}.", "attribute", "minor"))
    wrong_action = f"Remove the {_name(obj)}." if kind != "remove" else f"Move the {_name(obj)} to the left."
    out.append((wrong_action, "other", "critical"))
    return out


def _vague(spec: dict) -> str:
    """The instruction with its key attribute left out."""
    kind, obj = spec["type"], spec["object"]
    return {
        "move": f"Move the {_name(obj)}.",
        "mirror": f"Mirror the {_name(obj)}.",
        "rotate": f"Rotate the {_name(obj)}.",
        "recolour": f"Change the colour of the {_name(obj)}.",
        "resize": f"Change the size of the {_name(obj)}.",
        "pattern": f"Change the pattern of the {_name(obj)}.",
        "count": f"Change the number of {_name(obj)}s.",
        "add": f"Add a {obj['shape']}.",
        "remove": f"Remove a {obj['shape']}.",
    }[kind]
