"""The synthetic generator: deterministic, covers every edit type, and its checker is exact."""

import json

import numpy as np
import pytest

from edit_handbook.data import schema
from edit_handbook.data.synthetic import (
    EDIT_TYPES,
    FAILURE_MODE,
    check_instruction,
    generate_dataset,
    generate_pairs,
    make_pair,
    preference_pairs,
)


ROWS = list(generate_pairs(4 * len(EDIT_TYPES), image_size=64))


def test_same_seed_same_pairs_and_other_seed_differs():
    again = make_pair(5, image_size=64)
    assert again[schema.INSTRUCTION] == ROWS[5][schema.INSTRUCTION]
    assert np.array_equal(np.asarray(again[schema.TARGET_IMAGE]), np.asarray(ROWS[5][schema.TARGET_IMAGE]))
    other = [make_pair(i, seed=1, image_size=64)["edit_spec"] for i in range(len(EDIT_TYPES))]
    assert other != [row["edit_spec"] for row in ROWS[: len(EDIT_TYPES)]]


def test_every_edit_type_and_failure_mode_is_covered():
    assert {row[schema.EDIT_TYPE] for row in ROWS} == set(EDIT_TYPES)
    assert {row["failure_mode"] for row in ROWS} == {"orientation", "viewpoint", "attribute"}
    for row in ROWS:
        assert row["failure_mode"] == FAILURE_MODE[row[schema.EDIT_TYPE]]


def test_every_edit_changes_the_image():
    for row in ROWS:
        source, target = np.asarray(row[schema.SOURCE_IMAGE]), np.asarray(row[schema.TARGET_IMAGE])
        assert source.shape == target.shape == (64, 64, 3)
        assert (source != target).any(), row[schema.INSTRUCTION]


def test_checker_accepts_references_and_rectified_descriptions():
    for row in ROWS:
        assert check_instruction(row[schema.INSTRUCTION], row["edit_spec"]).correct, row[schema.INSTRUCTION]
        assert check_instruction(row[schema.RECTIFIED], row["edit_spec"]).correct, row[schema.RECTIFIED]


def test_checker_rejects_every_negative_and_flawed_instruction():
    for row in ROWS:
        assert len(row[schema.NEGATIVES]) == len(row["negative_attributes"]) >= 1
        assert set(row["negative_attributes"]) <= {"quantity", "position", "object", "colour"}
        for text in row[schema.NEGATIVES] + row["flawed_instructions"]:
            assert text != row[schema.INSTRUCTION]
            assert not check_instruction(text, row["edit_spec"]).correct, text


MOVE_LEFT = {"type": "move", "object": {"colour": "red", "shape": "circle"}, "direction": "left"}
PAN_RIGHT = {"type": "pan", "direction": "right"}
RECOLOUR = {"type": "recolour", "object": {"colour": "red", "shape": "circle"}, "colour": "green"}
ADD = {
    "type": "add",
    "object": {"colour": "blue", "shape": "star", "size": "large", "pattern": "plain"},
    "side": "right",
}


@pytest.mark.parametrize(
    "text, spec, correct, failed_aspect",
    [
        ("Shift the red circle towards the left side.", MOVE_LEFT, True, None),
        ("move the RED CIRCLE left", MOVE_LEFT, True, None),
        ("Move the red circle to the right.", MOVE_LEFT, False, "direction"),
        ("Move the red circle to its left.", MOVE_LEFT, False, "direction"),  # whose left?
        ("Move the blue circle to the left.", MOVE_LEFT, False, "colour"),
        ("Move the red square to the left.", MOVE_LEFT, False, "object"),
        ("Move the two red circles to the left.", MOVE_LEFT, False, "count"),
        ("Remove the red circle.", MOVE_LEFT, False, "action"),
        ("Pan the camera right.", PAN_RIGHT, True, None),
        ("Move everything to the left.", PAN_RIGHT, True, None),  # content moves opposite to the camera
        ("Move everything to the right.", PAN_RIGHT, False, "direction"),
        ("Pan the camera.", PAN_RIGHT, False, "direction"),
        ("Make the red circle green.", RECOLOUR, True, None),
        ("Change the colour of the red circle.", RECOLOUR, False, "attribute"),
        ("Change the green circle to red.", RECOLOUR, False, "attribute"),
        ("Add a large blue star on the right.", ADD, True, None),  # plain may go unsaid
        ("Add a blue star on the right.", ADD, False, "attribute"),
        ("Insert a large blue star at the left.", ADD, False, "direction"),
    ],
)
def test_checker_on_hand_written_instructions(text, spec, correct, failed_aspect):
    result = check_instruction(text, json.dumps(spec))
    assert result.correct is correct, result.errors
    if failed_aspect:
        assert result.aspects[failed_aspect] is False, result.aspects


def test_unknown_edit_type_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown edit types.*choose from"):
        next(generate_pairs(1, edit_types=["teleport"]))


def test_dataset_has_canonical_features_and_preference_pairs_expand_flawed_rows():
    dataset = generate_dataset(len(EDIT_TYPES), image_size=32)
    assert dataset.num_rows == len(EDIT_TYPES)
    assert dataset.features[schema.SOURCE_IMAGE].__class__.__name__ == "Image"
    assert dataset[0][schema.SOURCE_IMAGE].size == (32, 32)
    pairs = preference_pairs(dataset)
    assert pairs.num_rows == sum(len(f) for f in dataset["flawed_instructions"])
    assert set(pairs[schema.ERROR_TYPE]) <= set(schema.ERROR_TYPES)
    assert set(pairs[schema.SEVERITY]) <= set(schema.SEVERITIES)
    assert set(pairs[schema.ERROR_TYPE]) >= {"orientation", "viewpoint", "attribute", "other"}
    for row in pairs:
        assert row[schema.CHOSEN] != row[schema.REJECTED]
        assert check_instruction(row[schema.CHOSEN], row["edit_spec"]).correct


def test_dataset_is_the_same_with_several_processes():
    one = generate_dataset(6, image_size=32)
    two = generate_dataset(6, image_size=32, num_proc=2)
    assert one["id"] == two["id"] and one[schema.INSTRUCTION] == two[schema.INSTRUCTION]


def test_dataset_with_a_subset_of_edit_types():
    dataset = generate_dataset(4, image_size=32, edit_types=["recolour", "move"])
    assert dataset[schema.EDIT_TYPE] == ["recolour", "move", "recolour", "move"]
