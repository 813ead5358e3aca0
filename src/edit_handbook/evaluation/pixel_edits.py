"""Pixel-exact scoring of one edit of a synthetic scene: what the output's pixels show, against the truth.

The generator knows the source and target scenes of every edit, so an editor's output can be checked
without a judge. An edit is **correct** when both hold:

- **change**: the named object got the named change, read from the output's pixels. Each pixel is
  classified to the nearest palette colour (the six object colours, the background, the white of patterns):
  - recolour: most of the object's fill pixels (where the target shows its new colour) read as the new colour;
  - remove: most of the object's former fill pixels read as background;
  - move: within the object's old and new footprints (grown by one pixel, other objects left out), the
    pixels of its colour cover at least half its area and their centroid lies within a quarter of the move
    of the target centroid (a copy left behind, or no move, puts it halfway or at the start);
  - resize: in the same window, the area of its colour is closer (in log scale) to the target area than to
    the source area;
  - add: the named colour newly covers at least half the new object's area inside the band of the named
    side where the generator places added objects (the exact spot is random, so it is not required; shape
    is not checked);
- **preservation**: outside the edited region (the changed objects' footprints in source and target grown by
  one pixel, plus the side band of an add), the mean absolute error against the target (per channel, in
  [0, 1]) is under `threshold`, and every object the edit leaves alone still reads as its own colour (most of
  its fill pixels there), so a vanished or repainted small object fails even when the mean error stays low.

Reported beside them: that preservation error and the whole-image mean absolute error against the target.
Edit types without a pixel reading here (mirror, rotate, pan, tilt, zoom, pattern, count) are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from edit_handbook.data.synthetic.scene import BACKGROUND, RADIUS, Scene, Shape, render
from edit_handbook.data.synthetic.vocabulary import COLOURS


SCORED_EDIT_TYPES = ("recolour", "move", "resize", "add", "remove")
DEFAULT_THRESHOLD = 0.04
PALETTE: dict[str, tuple[int, int, int]] = {"background": BACKGROUND, "white": (255, 255, 255), **COLOURS}
PALETTE_NAMES = tuple(PALETTE)
# Where `edits._add` puts a new object's centre (world x), and its y range; widened by the object's radius.
ADD_BANDS = {"left": (0.12, 0.3), "right": (0.7, 0.88)}
ADD_Y = (0.2, 0.8)


@dataclass(frozen=True)
class EditScore:
    """One output's verdict and the readings behind it."""

    correct: bool
    changed: bool
    preserved: bool
    preservation_error: float
    image_error: float
    reading: str  # what the pixels showed, for people (e.g. "fill reads green (94%)")

    def to_dict(self) -> dict:
        return {
            "correct": self.correct,
            "changed": self.changed,
            "preserved": self.preserved,
            "preservation_error": self.preservation_error,
            "image_error": self.image_error,
            "reading": self.reading,
        }


def classify_pixels(image: np.ndarray) -> np.ndarray:
    """Index into `PALETTE_NAMES` of each pixel's nearest palette colour (Euclidean RGB), [H, W]."""
    palette = np.asarray(list(PALETTE.values()), dtype=np.float32)
    distances = ((image[..., None, :].astype(np.float32) - palette) ** 2).sum(-1)
    return distances.argmin(-1)


def _class(name: str) -> int:
    return PALETTE_NAMES.index(name)


def dilate(mask: np.ndarray, radius: int = 1) -> np.ndarray:
    """Grow a boolean mask by `radius` pixels (square neighbourhood)."""
    grown = mask.copy()
    for _ in range(radius):
        padded = np.pad(grown, 1)
        grown = np.zeros_like(grown)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                grown |= padded[dy : dy + mask.shape[0], dx : dx + mask.shape[1]]
    return grown


def render_array(scene: Scene, size: int) -> np.ndarray:
    return np.asarray(render(scene, size))


def _single(scene: Scene, obj: Shape, size: int) -> np.ndarray:
    return np.asarray(render(replace(scene, objects=(obj,)), size))


def footprint(scene: Scene, obj: Shape, size: int) -> np.ndarray:
    """Every pixel the object covers when drawn alone (fill and pattern)."""
    return (_single(scene, obj, size) != np.asarray(BACKGROUND, dtype=np.uint8)).any(-1)


def fill_pixels(scene: Scene, obj: Shape, size: int) -> np.ndarray:
    """The object's visible pixels of its own colour (pattern pixels and parts covered by later objects excluded)."""
    fill = (_single(scene, obj, size) == np.asarray(COLOURS[obj.colour], dtype=np.uint8)).all(-1)
    later = scene.objects[scene.objects.index(obj) + 1 :]
    for other in later:
        fill &= ~footprint(scene, other, size)
    return fill


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def _share(classes: np.ndarray, where: np.ndarray, name: str) -> float:
    return float((classes[where] == _class(name)).mean()) if where.any() else 0.0


def _majority(classes: np.ndarray, where: np.ndarray) -> str:
    if not where.any():
        return "nothing"
    return PALETTE_NAMES[int(np.bincount(classes[where], minlength=len(PALETTE_NAMES)).argmax())]


def _named(scene: Scene, obj: dict, colour: str | None = None) -> Shape:
    return scene.find(colour or obj["colour"], obj["shape"])


def _same_colour_others(source: Scene, target: Scene, named: Shape, size: int) -> np.ndarray:
    """Footprints of the other objects of the named object's colour (their pixels must not count for it)."""
    mask = np.zeros((size, size), dtype=bool)
    for scene in (source, target):
        for other in scene.objects:
            if other.colour == named.colour and other.shape != named.shape:
                mask |= footprint(scene, other, size)
    return mask


def add_band(side: str, size: int) -> np.ndarray:
    """Pixels where `edits._add` can draw a new object on `side` (centre range widened by the large radius)."""
    (x0, x1), (y0, y1), r = ADD_BANDS[side], ADD_Y, RADIUS["large"]
    band = np.zeros((size, size), dtype=bool)
    band[
        max(0, math.floor((y0 - r) * size)) : math.ceil((y1 + r) * size) + 1,
        max(0, math.floor((x0 - r) * size)) : math.ceil((x1 + r) * size) + 1,
    ] = True
    return band


def edited_region(source: Scene, target: Scene, spec: dict, size: int) -> np.ndarray:
    """Where the edit may change pixels: changed objects' footprints in both scenes (+1 px), plus an add's band."""
    region = np.zeros((size, size), dtype=bool)
    for scene, other in ((source, target), (target, source)):
        for obj in scene.objects:
            if obj not in other.objects:
                region |= footprint(scene, obj, size)
    if spec["type"] == "add":
        region |= add_band(spec["side"], size)
    return dilate(region, 1)


def read_change(source: Scene, target: Scene, spec: dict, output: np.ndarray) -> tuple[bool, str]:
    """Whether the output's pixels show the named change on the named object, and what they showed."""
    size = output.shape[0]
    kind, named = spec["type"], spec["object"]
    classes = classify_pixels(output)
    if kind == "recolour":
        fill = fill_pixels(target, _named(target, named, spec["colour"]), size)
        share = _share(classes, fill, spec["colour"])
        return share >= 0.5, f"fill reads {_majority(classes, fill)} ({share:.0%} {spec['colour']})"
    if kind == "remove":
        before = fill_pixels(source, _named(source, named), size)
        for obj in target.objects:
            before &= ~footprint(target, obj, size)
        share = _share(classes, before, "background")
        return share >= 0.5, f"former fill reads {_majority(classes, before)} ({share:.0%} background)"
    if kind == "add":
        new = _named(target, named)
        area = int(fill_pixels(target, new, size).sum())
        colour = _class(named["colour"])
        fresh = (
            add_band(spec["side"], size)
            & (classes == colour)
            & (classify_pixels(render_array(source, size)) != colour)
        )
        count = int(fresh.sum())
        return count >= 0.5 * area, f"{count} new {named['colour']} px on the {spec['side']} (object: {area})"
    if kind not in ("move", "resize"):
        raise ValueError(f"no pixel reading for edit type {kind!r}; scored types: {', '.join(SCORED_EDIT_TYPES)}")
    before, after = _named(source, named), _named(target, named)
    window = dilate(footprint(source, before, size) | footprint(target, after, size), 1)
    window &= ~_same_colour_others(source, target, before, size)
    hits = window & (classes == _class(named["colour"]))
    area = int(hits.sum())
    source_area, target_area = (
        int(fill_pixels(source, before, size).sum()),
        int(fill_pixels(target, after, size).sum()),
    )
    if area == 0:
        return False, f"no pixels of its colour (target {target_area})"
    if kind == "resize":
        to_target, to_source = abs(math.log(area / max(target_area, 1))), abs(math.log(area / max(source_area, 1)))
        return to_target < to_source, f"area {area} px (source {source_area}, target {target_area})"
    if area < 0.5 * target_area:
        return False, f"only {area} px of its colour (target {target_area})"
    # Centres of the whole shapes drawn alone: defined even where another object hides part of one.
    start, goal = _centroid(footprint(source, before, size)), _centroid(footprint(target, after, size))
    seen = _centroid(hits)
    distance, move = float(np.linalg.norm(seen - goal)), float(np.linalg.norm(goal - start))
    return distance <= 0.25 * move, f"centroid {distance:.1f} px from the target's (move {move:.1f} px)"


def objects_not_kept(source: Scene, target: Scene, output: np.ndarray, outside: np.ndarray) -> list[str]:
    """Names of the objects the edit leaves alone whose fill (outside the edited region) no longer reads right."""
    classes, lost = classify_pixels(output), []
    for obj in target.objects:
        fill = fill_pixels(target, obj, output.shape[0]) & outside
        if obj in source.objects and fill.any() and _share(classes, fill, obj.colour) < 0.5:
            lost.append(obj.name)
    return lost


def score_edit(
    source: Scene, target: Scene, spec: dict, output: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD
) -> EditScore:
    """Score `output` (uint8 [S, S, 3], the size the scenes are rendered at) as the edit `spec` of `source`."""
    if spec["type"] not in SCORED_EDIT_TYPES:
        raise ValueError(
            f"no pixel reading for edit type {spec['type']!r}; scored types: {', '.join(SCORED_EDIT_TYPES)}"
        )
    if output.ndim != 3 or output.shape[0] != output.shape[1] or output.shape[2] != 3:
        raise ValueError(f"the output must be a square RGB array [S, S, 3], got shape {output.shape}")
    size = output.shape[0]
    expected = render_array(target, size).astype(np.float32)
    error = np.abs(output.astype(np.float32) - expected).mean(-1) / 255.0
    outside = ~edited_region(source, target, spec, size)
    preservation_error = float(error[outside].mean()) if outside.any() else 0.0
    changed, reading = read_change(source, target, spec, output)
    lost = objects_not_kept(source, target, output, outside)
    if lost:
        reading += f"; not kept: {', '.join(lost)}"
    preserved = preservation_error < threshold and not lost
    return EditScore(
        correct=changed and preserved,
        changed=changed,
        preserved=preserved,
        preservation_error=preservation_error,
        image_error=float(error.mean()),
        reading=reading,
    )
