"""Stage 0 of the captioner that sees: token labels by hand and against the pixels, the heads' loss by hand."""

import numpy as np
import pytest
import torch

from edit_handbook.data.synthetic import pair_scenes
from edit_handbook.data.synthetic.scene import Camera, Scene, Shape, placement, render
from edit_handbook.data.synthetic.vocabulary import COLOURS, HEADINGS
from edit_handbook.editcaption.smoke_model import SEE_MODEL
from edit_handbook.editcaption.vision_pretraining import (
    ATTRIBUTES,
    IGNORE,
    SceneImages,
    TokenLabelCollator,
    VisionTowerHeads,
    merged_grid,
    token_labels,
)
from edit_handbook.models import load_vlm
from edit_handbook.models.registry import resolve_model


def _label(labels, cell):
    return {name: ATTRIBUTES[name][labels[k, cell]] for k, name in enumerate(ATTRIBUTES) if labels[k, cell] != IGNORE}


def test_token_labels_by_hand():
    star = Shape("star", "red", "large", "striped", x=0.2, y=0.3)  # 128 px: (25.6, 38.4) -> row 1, column 0
    circle = Shape("circle", "blue", x=0.7, y=0.8)  # (89.6, 102.4) -> row 3, column 2
    labels = token_labels(Scene((star, circle)), 128, (4, 4))
    assert labels.shape == (len(ATTRIBUTES), 16)
    assert _label(labels, 4) == {"shape": "star", "colour": "red", "size": "large", "pattern": "striped"}
    assert _label(labels, 14) == {"shape": "circle", "colour": "blue", "size": "small", "pattern": "plain"}
    assert (labels[:, [c for c in range(16) if c not in (4, 14)]] == IGNORE).all()


def test_token_labels_follow_the_camera_and_skip_what_is_ambiguous_or_out_of_frame():
    star = Shape("star", "red", x=0.2, y=0.3)
    # Panned right by 0.1 at zoom 2: x -> ((0.2 - 0.6) * 2 + 0.5) = -0.3 (out of frame); the circle moves to 0.7.
    circle = Shape("circle", "blue", x=0.7, y=0.5)
    labels = token_labels(Scene((star, circle), Camera(x=0.6, y=0.5, zoom=2.0)), 128, (4, 4))
    assert _label(labels, 2 * 4 + 2)["shape"] == "circle"  # (89.6, 64) -> row 2, column 2
    assert (labels != IGNORE).sum() == len(ATTRIBUTES) - 1  # no heading: not an arrow
    twins = Scene((Shape("star", "red", x=0.05, y=0.05), Shape("square", "green", x=0.2, y=0.2)))
    assert (token_labels(twins, 128, (4, 4)) == IGNORE).all()  # both centres in cell 0: either could be meant


def _heading_from_pixels(image: np.ndarray, background) -> str:
    """An arrow's head is its widest cross-section (1.5 radii against the shaft's 0.6) and its shaft its longest
    (2 radii): the long axis says horizontal or vertical, the widest line across it which end the head is on."""
    drawn = (image != np.array(background)).any(-1)
    rows, columns = np.nonzero(drawn)
    per_column, per_row = drawn.sum(0), drawn.sum(1)
    if per_row.max() > per_column.max():  # longest line is a row: horizontal arrow
        return "right" if per_column.argmax() > columns.mean() else "left"
    return "down" if per_row.argmax() > rows.mean() else "up"


@pytest.mark.parametrize("heading", HEADINGS)
def test_arrow_headings_are_labelled_from_what_is_drawn(heading):
    arrow = Shape("arrow", "red", "large", "plain", x=0.45, y=0.55, heading=heading)
    star = Shape("star", "blue", x=0.1, y=0.1, heading=heading)
    scene = Scene((arrow, star))
    labels = token_labels(scene, 128, (4, 4))
    assert _label(labels, 2 * 4 + 1)["heading"] == heading  # (57.6, 70.4) -> row 2, column 1
    assert "heading" not in _label(labels, 0)  # a star's heading field is never drawn, so never labelled
    alone = np.asarray(render(Scene((arrow,)), 128))
    background = alone[0, 0]
    assert _heading_from_pixels(alone, background) == heading


def test_labels_agree_with_the_pixels():
    """Every labelled cell shows its object's colour in the rendered image, around the object's centre."""
    checked = 0
    for index in range(60):
        for scene in pair_scenes(index, seed=3)[1:3]:
            image = np.asarray(render(scene, 128))
            labels = token_labels(scene, 128, (4, 4))
            for obj in scene.objects:
                x, y, r = placement(obj, scene.camera, 128)
                if not (0 <= x < 128 and 0 <= y < 128):
                    continue
                cell = int(y * 4 / 128) * 4 + int(x * 4 / 128)
                if labels[0, cell] == IGNORE:
                    continue
                assert _label(labels, cell)["colour"] == obj.colour
                patch = image[max(0, int(y - r / 2)) : int(y + r / 2) + 1, max(0, int(x - r / 2)) : int(x + r / 2) + 1]
                assert (patch == np.array(COLOURS[obj.colour])).all(-1).sum() >= 4, (index, obj)
                checked += 1
    assert checked > 200


@pytest.fixture(scope="module")
def see_vlm():
    return load_vlm(resolve_model(SEE_MODEL), dtype=torch.float32)


def test_heads_loss_is_the_sum_of_per_attribute_cross_entropies(see_vlm):
    model, processor = see_vlm
    grid = merged_grid(processor.image_processor, 128)
    assert grid == (4, 4)
    images = SceneImages(2, seed=0, image_size=128, grid=grid)
    batch = TokenLabelCollator(processor.image_processor)([images[i] for i in range(len(images))])
    torch.manual_seed(0)
    heads = VisionTowerHeads(model.model.visual, model.config.vision_config.out_hidden_size)
    output = heads(**batch)
    labels = batch["labels"]
    expected = 0.0
    for k, name in enumerate(ATTRIBUTES):
        logits, wanted = output["logits"][name], labels[:, k]
        mask = wanted != IGNORE
        if not mask.any():
            continue  # e.g. no arrow in these scenes: no heading term
        expected += -torch.log_softmax(logits[mask], -1).gather(1, wanted[mask][:, None]).mean()
    torch.testing.assert_close(output["loss"], expected)
    assert output["logits"]["shape"].shape == (len(images), 16, len(ATTRIBUTES["shape"]))


def test_unknown_edit_types_are_named():
    with pytest.raises(ValueError, match="scene_edit_types: unknown \\['spin'\\]"):
        SceneImages(2, seed=0, image_size=128, grid=(4, 4), edit_types=["move", "spin"])
