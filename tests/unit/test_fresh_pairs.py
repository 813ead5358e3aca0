"""The fresh-pair scoring rules, on hand-written answers (no model)."""

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.fresh_pairs import negative_from, rectify_hints, score_descriptions
from edit_handbook.synth.tasks import negative_is_valid


def test_negative_rule_changes_one_aspect_of_a_correct_rectification():
    pairs = generate_dataset(12, seed=3, image_size=32)
    for rectified, spec in zip(pairs["rectified_instruction"], pairs["edit_spec"]):
        negative = negative_from(rectified)
        assert negative is not None and negative != rectified
        assert negative_is_valid(negative, spec), (rectified, negative)
    assert negative_from("Make it nicer.") is None
    assert negative_from("Pan the camera to the left. Layout: the view shifts left.") == (
        "Pan the camera to the right. Layout: the view shifts right."
    )


def test_rectify_hints_alternate_correct_and_flawed():
    assert rectify_hints(["a", "b", "c", "d"], [["x"], ["y1", "y2"], ["z"], ["w1", "w2"]]) == ["a", "y1", "c", "w2"]


def test_description_scores_per_object_slot():
    truth = ["small red plain circle top left; large blue dotted star bottom right."]
    answer = ["small red dotted square top left; large blue dotted star bottom right."]
    scores = score_descriptions(answer, truth)
    assert scores == {"objects": 1.0, "size": 1.0, "colour": 1.0, "pattern": 0.5, "shape": 0.5}
    assert score_descriptions([""], truth)["colour"] == 0.0
