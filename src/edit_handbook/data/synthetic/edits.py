"""Edits on a scene, each returning the edited scene and an exact, JSON-able description.

Every edit type probes one of EditCaption's failure modes (docs/method.md): orientation (which
way something moved or points), viewpoint (camera motion, whose frame), or fine-grained
attributes (colour, size, pattern, count, and which object was added or removed).
"""

from __future__ import annotations

import random
from dataclasses import replace

from .scene import Camera, PlacementError, Scene, Shape, free_position, is_clear, random_object, random_scene
from .vocabulary import COLOURS, HEADINGS, PATTERNS


FAILURE_MODE = {
    "move": "orientation",
    "mirror": "orientation",
    "rotate": "orientation",
    "pan": "viewpoint",
    "tilt": "viewpoint",
    "zoom": "viewpoint",
    "recolour": "attribute",
    "resize": "attribute",
    "pattern": "attribute",
    "count": "attribute",
    "add": "attribute",
    "remove": "attribute",
}
EDIT_TYPES = tuple(FAILURE_MODE)
Edit = tuple[Scene, Scene, dict]  # (source scene, target scene, JSON-able edit spec)
STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


def _ref(obj: Shape) -> dict:
    return {"colour": obj.colour, "shape": obj.shape}


def _move(rng: random.Random, scene: Scene) -> Edit:
    """Move one object 0.3 along an axis, to a spot inside the frame and clear of the others (stays visible)."""
    obj = rng.choice(scene.objects)
    others = tuple(o for o in scene.objects if o is not obj)
    options = []
    for direction, (dx, dy) in STEP.items():
        x, y = obj.x + 0.3 * dx, obj.y + 0.3 * dy
        if 0.12 <= x <= 0.88 and 0.12 <= y <= 0.88 and is_clear(x, y, others):
            options.append((direction, x, y))
    if not options:
        raise PlacementError(f"no free spot to move the {obj.name} to")
    direction, x, y = rng.choice(options)
    return scene, scene.replace_object(obj, replace(obj, x=x, y=y)), {"object": _ref(obj), "direction": direction}


def _arrow_scene(rng: random.Random, scene: Scene, headings: tuple[str, ...]) -> tuple[Scene, Shape]:
    """Make sure the scene has an arrow with one of `headings` (replacing its first object if needed)."""
    arrows = [o for o in scene.objects if o.shape == "arrow" and o.heading in headings]
    if arrows:
        return scene, rng.choice(arrows)
    taken = {(o.colour, o.shape) for o in scene.objects[1:]}
    colour = rng.choice([c for c in COLOURS if (c, "arrow") not in taken])
    arrow = replace(scene.objects[0], shape="arrow", colour=colour, heading=rng.choice(headings))
    return scene.replace_object(scene.objects[0], arrow), arrow


def _mirror(rng: random.Random, scene: Scene) -> Edit:
    scene, arrow = _arrow_scene(rng, scene, ("left", "right"))
    heading = "left" if arrow.heading == "right" else "right"
    return (
        scene,
        scene.replace_object(arrow, replace(arrow, heading=heading)),
        {"object": _ref(arrow), "heading": heading},
    )


def _rotate(rng: random.Random, scene: Scene) -> Edit:
    scene, arrow = _arrow_scene(rng, scene, HEADINGS)
    rotation = rng.choice(("clockwise", "counterclockwise"))
    turn = 1 if rotation == "clockwise" else -1
    heading = HEADINGS[(HEADINGS.index(arrow.heading) + turn) % 4]
    edited = scene.replace_object(arrow, replace(arrow, heading=heading))
    return scene, edited, {"object": _ref(arrow), "rotation": rotation, "heading": heading}


def _camera_shift(rng: random.Random, scene: Scene, axis: str) -> Edit:
    """Pan (x) or tilt (y): the camera moves one way, so the content moves the other way in the frame."""
    direction = rng.choice(("left", "right") if axis == "x" else ("up", "down"))
    dx, dy = STEP[direction]
    source = replace(scene, camera=Camera(x=0.5 - 0.08 * dx, y=0.5 - 0.08 * dy))
    target = replace(scene, camera=Camera(x=0.5 + 0.08 * dx, y=0.5 + 0.08 * dy))
    return source, target, {"direction": direction}


def _zoom(rng: random.Random, scene: Scene) -> Edit:
    direction = rng.choice(("in", "out"))
    near, far = Camera(zoom=1.45), Camera(zoom=0.95)
    source, target = (far, near) if direction == "in" else (near, far)
    return replace(scene, camera=source), replace(scene, camera=target), {"direction": direction}


def _recolour(rng: random.Random, scene: Scene) -> Edit:
    obj = rng.choice(scene.objects)
    taken = {(o.colour, o.shape) for o in scene.objects}
    colour = rng.choice([c for c in COLOURS if (c, obj.shape) not in taken])
    return scene, scene.replace_object(obj, replace(obj, colour=colour)), {"object": _ref(obj), "colour": colour}


def _resize(rng: random.Random, scene: Scene) -> Edit:
    obj = rng.choice(scene.objects)
    size = "large" if obj.size == "small" else "small"
    change = "larger" if size == "large" else "smaller"
    return scene, scene.replace_object(obj, replace(obj, size=size)), {"object": _ref(obj), "size": change}


def _pattern(rng: random.Random, scene: Scene) -> Edit:
    obj = rng.choice(scene.objects)
    pattern = rng.choice([p for p in PATTERNS if p != obj.pattern])
    return scene, scene.replace_object(obj, replace(obj, pattern=pattern)), {"object": _ref(obj), "pattern": pattern}


def _count(rng: random.Random, scene: Scene) -> Edit:
    obj = scene.objects[0]
    count = rng.choice((2, 3))
    objects = scene.objects
    for _ in range(count - 1):  # copies clear of everything, so the visible count is the label
        x, y = free_position(rng, objects, (0.15, 0.85), (0.15, 0.85))
        objects += (replace(obj, x=x, y=y),)
    return scene, replace(scene, objects=objects), {"object": _ref(obj), "count": count}


def _add(rng: random.Random, scene: Scene) -> Edit:
    side = rng.choice(("left", "right"))
    x_range = (0.12, 0.3) if side == "left" else (0.7, 0.88)
    new = random_object(rng, scene.objects, x_range=x_range)
    spec = {"object": {**_ref(new), "size": new.size, "pattern": new.pattern}, "side": side}
    return scene, replace(scene, objects=scene.objects + (new,)), spec


def _remove(rng: random.Random, scene: Scene) -> Edit:
    obj = rng.choice(scene.objects)
    return scene, scene.replace_object(obj, None), {"object": _ref(obj)}


_EDITS = {
    "move": _move,
    "mirror": _mirror,
    "rotate": _rotate,
    "pan": lambda rng, scene: _camera_shift(rng, scene, "x"),
    "tilt": lambda rng, scene: _camera_shift(rng, scene, "y"),
    "zoom": _zoom,
    "recolour": _recolour,
    "resize": _resize,
    "pattern": _pattern,
    "count": _count,
    "add": _add,
    "remove": _remove,
}


_MAX_SCENE_TRIES = 100


def sample_edit(rng: random.Random, edit_type: str) -> Edit:
    """A random scene and one edit of `edit_type`: (source scene, target scene, edit spec).

    No two shapes ever overlap, before or after the edit, so every object is fully visible (unless a camera
    edit moves it out of frame) and the visible count equals the label; a scene with no room for the edit
    is drawn again from the same random stream, which keeps rows reproducible.
    """
    if edit_type not in _EDITS:
        raise ValueError(f"unknown edit type {edit_type!r}; choose from {', '.join(EDIT_TYPES)}")
    for _ in range(_MAX_SCENE_TRIES):
        try:
            scene = random_scene(rng, 3 if edit_type == "remove" else rng.choice((2, 3)))
            source, target, spec = _EDITS[edit_type](rng, scene)
        except PlacementError:
            continue
        return source, target, {"type": edit_type, **spec}
    raise PlacementError(f"no {edit_type} edit fitted in {_MAX_SCENE_TRIES} scenes")
