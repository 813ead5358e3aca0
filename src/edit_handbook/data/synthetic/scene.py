"""Scenes of flat shapes and their renderer.

A scene lives in world coordinates ([0, 1] x [0, 1], y down); a camera (centre and zoom)
maps it onto the image, so viewpoint edits (pan, tilt, zoom) re-render the same world.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw

from .vocabulary import COLOURS, HEADINGS, PATTERNS, SHAPES


BACKGROUND = (238, 236, 230)
RADIUS = {"small": 0.07, "large": 0.12}
# Centre distance that keeps any two shapes apart with a visible gap: a large square reaches 0.8 * sqrt(2)
# radii (0.136) at its corners, so two large squares corner to corner need 0.272; 0.32 leaves 3 px at 64 px.
MIN_SPACING = 0.32
MAX_PLACEMENT_TRIES = 200


class PlacementError(RuntimeError):
    """No free spot for an object: the caller draws a new scene (labels must match what is drawn)."""


@dataclass(frozen=True)
class Shape:
    """One object: identified in instructions by colour + shape (unique within a scene)."""

    shape: str
    colour: str
    size: str = "small"
    pattern: str = "plain"
    x: float = 0.5
    y: float = 0.5
    heading: str = "right"  # only arrows show it

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass(frozen=True)
class Camera:
    x: float = 0.5
    y: float = 0.5
    zoom: float = 1.0


@dataclass(frozen=True)
class Scene:
    objects: tuple[Shape, ...]
    camera: Camera = field(default_factory=Camera)

    def find(self, colour: str, shape: str) -> Shape:
        return next(o for o in self.objects if o.colour == colour and o.shape == shape)

    def replace_object(self, old: Shape, new: Shape | None) -> Scene:
        objects = tuple(new if o is old else o for o in self.objects if new is not None or o is not old)
        return replace(self, objects=objects)


def is_clear(x: float, y: float, others: tuple[Shape, ...]) -> bool:
    """Would a shape centred at (x, y) keep a visible gap to every shape in `others`?"""
    return all(math.hypot(x - o.x, y - o.y) >= MIN_SPACING for o in others)


def free_position(
    rng: random.Random, others: tuple[Shape, ...], x_range=(0.2, 0.8), y_range=(0.2, 0.8)
) -> tuple[float, float]:
    """A random centre clear of `others`; raises `PlacementError` when none is found (never overlaps)."""
    for _ in range(MAX_PLACEMENT_TRIES):
        x, y = rng.uniform(*x_range), rng.uniform(*y_range)
        if is_clear(x, y, others):
            return x, y
    raise PlacementError(f"no free position among {len(others)} objects in x {x_range}, y {y_range}")


def random_object(rng: random.Random, others: tuple[Shape, ...] = (), *, x_range=(0.2, 0.8)) -> Shape:
    """A new object whose (colour, shape) is not in `others`, clear of them (or `PlacementError`)."""
    taken = {(o.colour, o.shape) for o in others}
    colour, shape = rng.choice([(c, s) for c in COLOURS for s in SHAPES if (c, s) not in taken])
    x, y = free_position(rng, others, x_range)
    size, pattern, heading = rng.choice(("small", "large")), rng.choice(PATTERNS), rng.choice(HEADINGS)
    return Shape(shape=shape, colour=colour, size=size, pattern=pattern, x=x, y=y, heading=heading)


def random_scene(rng: random.Random, num_objects: int) -> Scene:
    objects: tuple[Shape, ...] = ()
    for _ in range(num_objects):
        objects += (random_object(rng, objects),)
    return Scene(objects=objects)


def _unit_polygon(shape: str, heading: str) -> list[tuple[float, float]]:
    """Vertices on the unit circle scale; arrows point along `heading`."""
    if shape == "square":
        return [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    if shape == "triangle":
        return [(0.0, -1.0), (0.9, 0.75), (-0.9, 0.75)]
    if shape == "star":
        return [
            (
                (1.0 if k % 2 == 0 else 0.45) * math.sin(k * math.pi / 5),
                -(1.0 if k % 2 == 0 else 0.45) * math.cos(k * math.pi / 5),
            )
            for k in range(10)
        ]
    if shape == "arrow":
        right = [(-1.0, -0.3), (0.2, -0.3), (0.2, -0.75), (1.0, 0.0), (0.2, 0.75), (0.2, 0.3), (-1.0, 0.3)]
        turns = HEADINGS.index(heading)  # quarter turns clockwise from "right" (y points down)
        for _ in range(turns):
            right = [(-y, x) for x, y in right]
        return right
    raise ValueError(f"not a polygon shape: {shape}")


@lru_cache(maxsize=64)
def _pattern_mask(pattern: str, size: int) -> Image.Image:
    """A white-on-black overlay (stripes or dots) in image space, cached per size."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    step = max(4, size // 24)
    if pattern == "striped":
        for offset in range(-size, size, step * 2):
            draw.line([(offset, 0), (offset + size, size)], fill=255, width=max(1, step // 2 + 1))
    elif pattern == "dotted":
        r = max(1, step // 3)
        for cy in range(step // 2, size, step):
            for cx in range(step // 2, size, step):
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    return mask


def placement(obj: Shape, camera: Camera, size: int) -> tuple[float, float, float]:
    """Where `obj` is drawn in a `size`-pixel image seen through `camera`: centre x, centre y and radius, in pixels."""
    cx = ((obj.x - camera.x) * camera.zoom + 0.5) * size
    cy = ((obj.y - camera.y) * camera.zoom + 0.5) * size
    return cx, cy, RADIUS[obj.size] * camera.zoom * size


def render(scene: Scene, size: int = 256) -> Image.Image:
    """Draw the scene as seen by its camera (RGB, `size` x `size`)."""
    image = Image.new("RGB", (size, size), BACKGROUND)
    cam = scene.camera
    for obj in scene.objects:
        cx, cy, r = placement(obj, cam, size)
        box = (max(0, int(cx - r)), max(0, int(cy - r)), min(size, int(cx + r) + 1), min(size, int(cy + r) + 1))
        if box[0] >= box[2] or box[1] >= box[3]:
            continue  # outside the frame
        # Masks cover only the object's bounding box: drawing full-frame masks was the bottleneck.
        mask = Image.new("L", (box[2] - box[0], box[3] - box[1]), 0)
        draw = ImageDraw.Draw(mask)
        ox, oy = cx - box[0], cy - box[1]
        if obj.shape == "circle":
            draw.ellipse([ox - r, oy - r, ox + r, oy + r], fill=255)
        else:
            draw.polygon([(ox + px * r, oy + py * r) for px, py in _unit_polygon(obj.shape, obj.heading)], fill=255)
        image.paste(COLOURS[obj.colour], box, mask=mask)
        if obj.pattern != "plain":
            overlay = ImageChops.multiply(_pattern_mask(obj.pattern, size).crop(box), mask)
            image.paste((255, 255, 255), box, mask=overlay)
    return image
