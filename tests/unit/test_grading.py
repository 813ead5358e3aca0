"""The verdict -> correct / minor / major / critical mapping: hand cases, and the generator's own labels."""

from __future__ import annotations

import pytest

from edit_handbook.data.synthetic import make_pair
from edit_handbook.data.synthetic.grading import grade_instruction


MOVE = {"type": "move", "object": {"shape": "circle", "colour": "red"}, "direction": "left"}
PAN = {"type": "pan", "direction": "left"}


@pytest.mark.parametrize(
    ("text", "spec", "verdict", "error_type"),
    [
        ("Move the red circle to the left.", MOVE, "correct", None),
        ("Move the red circle to the right.", MOVE, "critical", "orientation"),
        ("Move the red circle to its right.", MOVE, "major", "viewpoint"),
        ("Move the red circle.", MOVE, "major", "attribute"),
        ("Move the blue circle to the left.", MOVE, "critical", "attribute"),
        ("Remove the red circle.", MOVE, "critical", "other"),
        ("Pan the camera.", PAN, "minor", "viewpoint"),
        ("Pan the camera to the right.", PAN, "critical", "viewpoint"),
        ("Shift to the left.", PAN, "major", "viewpoint"),
        ("Change the colour of the yellow square to blue.", PAN, "critical", "other"),  # another edit
        ("Move the red circle to the left.", PAN, "critical", "other"),  # one object is not the view
        ("Mirror it so it points left.", PAN, "critical", "other"),
        ("Change the.", MOVE, "critical", "other"),
        ("", PAN, "critical", "other"),
    ],
)
def test_hand_cases(text, spec, verdict, error_type):
    grade = grade_instruction(text, spec)
    assert (grade.verdict, grade.error_type) == (verdict, error_type)
    assert grade.correct == (verdict == "correct") and grade.critical == (verdict == "critical")


def test_every_flawed_instruction_grades_to_its_generator_label():
    """The study's mapping and the flawed instructions' labels are the same rules (all 12 edit types)."""
    checked = 0
    for index in range(120):
        row = make_pair(index, seed=5, image_size=16)
        assert grade_instruction(row["instruction"], row["edit_spec"]).correct
        for text, error_type, severity in zip(
            row["flawed_instructions"], row["flawed_error_types"], row["flawed_severities"]
        ):
            grade = grade_instruction(text, row["edit_spec"])
            assert (grade.verdict, grade.error_type) == (severity, error_type), (text, row["edit_spec"])
            checked += 1
    assert checked > 300
