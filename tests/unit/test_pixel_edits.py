"""The pixel-exact editing metrics on hand-made images: each case's verdict is known before it is computed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edit_handbook.data.synthetic.scene import Scene, Shape, render
from edit_handbook.data.synthetic.vocabulary import COLOURS
from edit_handbook.evaluation.pixel_edits import PALETTE_NAMES, classify_pixels, dilate, edited_region, score_edit
from edit_handbook.evaluation.stats import estimate
from edit_handbook.evaluation.synthetic_editing import editing_metrics


SIZE = 32
CIRCLE = Shape("circle", "red", size="large", x=0.3, y=0.3)
SQUARE = Shape("square", "blue", size="large", x=0.7, y=0.7)
STAR = Shape("star", "yellow", size="small", x=0.7, y=0.25)
SOURCE = Scene(objects=(CIRCLE, SQUARE, STAR))


def pixels(scene: Scene) -> np.ndarray:
    return np.asarray(render(scene, SIZE)).copy()


def recolour(obj: Shape, colour: str) -> Scene:
    return SOURCE.replace_object(obj, replace(obj, colour=colour))


RECOLOUR = {"type": "recolour", "object": {"colour": "red", "shape": "circle"}, "colour": "green"}
TARGET = recolour(CIRCLE, "green")


def verdict(output: np.ndarray, target: Scene = TARGET, spec: dict = RECOLOUR):
    return score_edit(SOURCE, target, spec, output)


def test_correct_recolour_is_correct_with_zero_error():
    score = verdict(pixels(TARGET))
    assert (score.correct, score.changed, score.preserved) == (True, True, True)
    assert score.preservation_error == 0.0 and score.image_error == 0.0


def test_wrong_colour_fails_the_change_but_preserves():
    score = verdict(pixels(recolour(CIRCLE, "yellow")))
    assert (score.changed, score.preserved, score.correct) == (False, True, False)
    assert "fill reads yellow" in score.reading


def test_wrong_object_fails_both():
    score = verdict(pixels(recolour(SQUARE, "green")))  # the square got the colour, the circle kept red
    assert (score.changed, score.preserved, score.correct) == (False, False, False)
    assert "not kept: blue square" in score.reading


def test_untouched_image_is_preserved_but_not_changed():
    score = verdict(pixels(SOURCE))
    assert (score.changed, score.preserved, score.correct) == (False, True, False)
    assert score.preservation_error == 0.0 and score.image_error > 0


def test_everything_painted_the_named_colour_changes_but_is_not_preserved():
    image = pixels(SOURCE)
    objects = (image != np.asarray(render(Scene(objects=()), SIZE))).any(-1)
    image[objects] = COLOURS["green"]
    score = verdict(image)
    assert (score.changed, score.preserved, score.correct) == (True, False, False)


def test_whole_image_tinted_is_not_preserved():
    tinted = (0.7 * pixels(TARGET) + 0.3 * np.array([0, 0, 255])).astype(np.uint8)
    score = verdict(tinted)
    assert score.changed  # the circle still reads green
    assert not score.preserved and not score.correct
    assert score.preservation_error > 0.04


def test_a_vanished_small_object_breaks_preservation_despite_a_low_mean_error():
    score = verdict(pixels(TARGET.replace_object(STAR, None)))
    assert score.changed and score.preservation_error < 0.04
    assert not score.preserved and "yellow star" in score.reading


@pytest.mark.parametrize(
    ("edit", "target"),
    [
        ({"type": "move", "direction": "down"}, SOURCE.replace_object(CIRCLE, replace(CIRCLE, y=0.6))),
        ({"type": "resize", "size": "smaller"}, SOURCE.replace_object(CIRCLE, replace(CIRCLE, size="small"))),
        ({"type": "remove"}, SOURCE.replace_object(CIRCLE, None)),
    ],
)
def test_move_resize_remove_read_right_and_copying_fails(edit, target):
    spec = {**edit, "object": {"colour": "red", "shape": "circle"}}
    assert verdict(pixels(target), target, spec).correct
    copied = verdict(pixels(SOURCE), target, spec)
    assert copied.preserved and not copied.changed


def test_a_move_that_leaves_a_copy_behind_is_not_a_move():
    moved = replace(CIRCLE, y=0.6)
    target = SOURCE.replace_object(CIRCLE, moved)
    both = Scene(objects=(CIRCLE, moved, SQUARE, STAR))
    spec = {"type": "move", "direction": "down", "object": {"colour": "red", "shape": "circle"}}
    assert not verdict(pixels(both), target, spec).changed


def test_add_needs_the_colour_on_the_named_side_not_the_exact_spot():
    new = Shape("triangle", "purple", size="large", x=0.2, y=0.7)
    target = Scene(objects=(*SOURCE.objects, new))
    spec = {"type": "add", "side": "left", "object": {"colour": "purple", "shape": "triangle"}}
    elsewhere = Scene(objects=(*SOURCE.objects, replace(new, y=0.5, x=0.25)))  # same side, another spot
    other_side = Scene(objects=(*SOURCE.objects, replace(new, x=0.85, y=0.5)))
    assert verdict(pixels(target), target, spec).correct
    assert verdict(pixels(elsewhere), target, spec).correct
    assert not verdict(pixels(other_side), target, spec).changed
    assert not verdict(pixels(SOURCE), target, spec).changed


def test_edited_region_covers_old_and_new_footprints_grown_by_one_pixel():
    region = edited_region(SOURCE, TARGET, RECOLOUR, SIZE)
    footprint = (np.asarray(render(Scene(objects=(CIRCLE,)), SIZE)) != render(Scene(objects=()), SIZE)).any(-1)
    assert np.array_equal(region, dilate(footprint, 1))
    dot = np.zeros((5, 5), dtype=bool)
    dot[2, 2] = True
    assert dilate(dot, 1).sum() == 9 and dilate(dot, 2).sum() == 25


def test_classify_reads_exact_palette_colours():
    image = np.array([[COLOURS["red"], COLOURS["blue"], (238, 236, 230), (250, 250, 250)]], dtype=np.uint8)
    names = ["red", "blue", "background", "white"]
    assert [PALETTE_NAMES[i] for i in classify_pixels(image)[0]] == names


def test_unscored_edit_types_are_refused():
    with pytest.raises(ValueError, match="no pixel reading for edit type 'zoom'"):
        score_edit(SOURCE, SOURCE, {"type": "zoom", "direction": "in"}, pixels(SOURCE))


def test_metrics_are_bootstrap_estimates_overall_and_per_type():
    items = [
        {"edit_type": "recolour", "correct": True, "changed": True, "preserved": True, "preservation_error": 0.0,
         "image_error": 0.0, "wrong_followed": False},
        {"edit_type": "move", "correct": False, "changed": False, "preserved": True, "preservation_error": 0.01,
         "image_error": 0.02},
    ]  # fmt: skip
    metrics, groups = editing_metrics(items)
    assert metrics["accuracy"] == estimate([True, False])
    assert groups["edit_type"]["recolour"]["accuracy"].value == 1.0
    assert metrics["wrong_following_rate"].n == 1 and "wrong_following_rate" not in groups["edit_type"]["move"]


def test_suite_scores_baselines_copy_zero_target_all(tmp_path):
    from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing

    copy = evaluate_synthetic_editing("baseline:copy", tmp_path / "copy", pairs_per_type=4, num_resamples=50)
    target = evaluate_synthetic_editing("baseline:target", tmp_path / "target", pairs_per_type=4, num_resamples=50)
    assert copy.metrics["accuracy"].value == 0.0 and copy.metrics["preservation_rate"].value == 1.0
    assert target.metrics["accuracy"].value == 1.0 and target.metrics["wrong_following_rate"].value == 0.0
    assert set(copy.groups["edit_type"]) == {"recolour", "move", "resize", "add", "remove"}
    assert (tmp_path / "copy" / copy.items[0]["images"]["edit"]).is_file()
