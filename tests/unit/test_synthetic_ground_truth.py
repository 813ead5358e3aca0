"""The synthetic labels match what is drawn: counted and measured from the rendered pixels, not the labels."""

import json
import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from edit_handbook.data.synthetic import EDIT_TYPES
from edit_handbook.data.synthetic.edits import sample_edit
from edit_handbook.data.synthetic.scene import BACKGROUND, Scene, render
from edit_handbook.data.synthetic.vocabulary import COLOURS


CAMERA_EDITS = {"pan", "tilt", "zoom"}  # the whole view moves: objects may leave the frame on purpose


def components(mask: np.ndarray) -> list[np.ndarray]:
    """Connected regions of a boolean mask grown by one pixel (so a thin star tip cut off by the pixel grid
    still belongs to its star), each as its own boolean mask."""
    labels = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))
    regions = []
    while True:
        left = np.argwhere(np.asarray(labels) == 255)
        if not len(left):
            return regions
        y, x = left[0]
        ImageDraw.floodfill(labels, (int(x), int(y)), 1, thresh=0)
        region = np.asarray(labels) == 1
        regions.append(region)
        labels.paste(0, mask=Image.fromarray(region.astype(np.uint8) * 255))


def foreground(image: Image.Image) -> np.ndarray:
    return np.any(np.asarray(image) != np.array(BACKGROUND, dtype=np.uint8), axis=-1)


def visible_fraction(scene: Scene, index: int, size: int) -> float:
    """Share of object `index`'s own pixels (drawn alone) that the full scene still shows unchanged."""
    alone = np.asarray(render(replace(scene, objects=(scene.objects[index],)), size))
    footprint = foreground(Image.fromarray(alone))
    shown = np.all(np.asarray(render(scene, size)) == alone, axis=-1)
    return float(shown[footprint].mean())


def edits(count: int):
    rng = random.Random("ground-truth-test")
    for index in range(count):
        edit_type = EDIT_TYPES[index % len(EDIT_TYPES)]
        yield (edit_type, *sample_edit(rng, edit_type))


def blobs_of_colour(image: Image.Image, colour: str) -> int:
    """How many separate shapes show `colour` anywhere (patterns paint white over part of a shape)."""
    pixels = np.asarray(image)
    return sum(bool(np.all(pixels[blob] == COLOURS[colour], axis=-1).any()) for blob in components(foreground(image)))


@pytest.mark.parametrize("size", [64, 256])
def test_every_drawn_object_is_its_own_blob_so_visible_counts_match_the_labels(size):
    for edit_type, source, target, spec in edits(1200 if size == 64 else 120):
        if edit_type in CAMERA_EDITS:
            continue
        for scene, name in ((source, "source"), (target, "target")):
            found = len(components(foreground(render(scene, size))))
            assert found == len(scene.objects), (edit_type, name, spec, found)
        if edit_type == "count":
            colour = spec["object"]["colour"]
            added = blobs_of_colour(render(target, size), colour) - blobs_of_colour(render(source, size), colour)
            assert added == spec["count"] - 1, (spec, added)


def test_moved_and_edited_objects_stay_fully_visible():
    for edit_type, _, target, spec in edits(1200):
        if edit_type in CAMERA_EDITS or edit_type == "remove":
            continue
        colour = spec["colour"] if edit_type == "recolour" else spec["object"]["colour"]
        index = next(
            i for i, o in enumerate(target.objects) if (o.colour, o.shape) == (colour, spec["object"]["shape"])
        )
        assert visible_fraction(target, index, 64) == 1.0, (edit_type, spec)


def test_count_labels_match_the_json_spec_and_rows_stay_reproducible():
    rng_a, rng_b = random.Random("same"), random.Random("same")
    for edit_type in EDIT_TYPES:
        a, b = sample_edit(rng_a, edit_type), sample_edit(rng_b, edit_type)
        assert json.dumps(a[2], sort_keys=True) == json.dumps(b[2], sort_keys=True)
        assert a[1] == b[1]
