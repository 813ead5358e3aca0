"""Aggregates of the instruction suites against values worked out by hand."""

import json

import pytest

from edit_handbook.evaluation.instructions import quality_item, quality_metrics
from edit_handbook.evaluation.report import paired_comparisons
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import Estimate, estimate
from edit_handbook.evaluation.synthetic import (
    checked_item,
    checker_metrics,
    covered_aspects,
    negatives_item,
    negatives_metrics,
    rectification_item,
    rectification_metrics,
)
from edit_handbook.models import load_clip_tokenizer
from edit_handbook.synth.judge import Verdict


def value(estimate: Estimate) -> tuple[float, int]:
    return round(estimate.value, 6), estimate.n


def verdict(score, classification, error_type, answer):
    extra = {"classification": classification, "error_type": error_type}
    return Verdict(answer=answer, score=score, reason="r", extra=extra)


@pytest.fixture
def judged_items():
    return [
        quality_item("a", "A", None, verdict(5, "correct", "none", True), edit_type="move"),
        quality_item("b", "B", None, verdict(4, "minor", "attribute", True), edit_type="move"),
        quality_item("c", "C", None, verdict(1, "critical", "orientation", False), edit_type="recolour"),
        quality_item("d", "D", None, verdict(2, "critical", "attribute", False), edit_type="recolour"),
        quality_item("e", "E", None, Verdict(None, None, "", error="unreadable after one repair"), edit_type="move"),
        quality_item("f", None, "local generation failed", None, edit_type="move"),
    ]


def test_quality_metrics_exclude_unusable_answers_and_count_them(judged_items):
    metrics, groups = quality_metrics(judged_items)
    assert value(metrics["mean_score"]) == (3.0, 4)
    assert value(metrics["correct_rate"]) == (0.25, 4)
    assert value(metrics["minor_error_rate"]) == (0.25, 4)
    assert value(metrics["critical_error_rate"]) == (0.5, 4)
    assert value(metrics["yes_rate"]) == (0.5, 4)
    assert value(metrics["judged_rate"]) == (round(4 / 6, 6), 6)
    by_type = groups["error_type"]
    assert value(by_type["orientation"]["error_rate"]) == (0.25, 4)
    assert value(by_type["attribute"]["error_rate"]) == (0.5, 4)
    assert value(by_type["attribute"]["critical_error_rate"]) == (0.25, 4)
    assert value(by_type["viewpoint"]["error_rate"]) == (0.0, 4)
    assert value(groups["edit_type"]["move"]["mean_score"]) == (4.5, 2)
    assert value(groups["edit_type"]["recolour"]["critical_error_rate"]) == (1.0, 2)
    assert judged_items[5]["error"] == "local generation failed" and judged_items[5]["score"] is None


def test_bootstrap_intervals_by_hand(judged_items):
    _, groups = quality_metrics(judged_items)
    # Two scores 5 and 4: resampled means are 4, 4.5 or 5 with chances 1/4, 1/2, 1/4, so the 95% interval is [4, 5].
    move = groups["edit_type"]["move"]["mean_score"]
    assert (move.low, move.high) == (4.0, 5.0)
    # Identical values: no spread at all.
    assert groups["error_type"]["viewpoint"]["error_rate"] == Estimate(0.0, 0.0, 0.0, 4)
    assert estimate([], seed=3).n == 0


MOVE = {"type": "move", "object": {"colour": "red", "shape": "circle"}, "direction": "left"}
PAN = {"type": "pan", "direction": "left"}
RECOLOUR = {"type": "recolour", "object": {"colour": "red", "shape": "square"}, "colour": "purple"}
COUNT = {"type": "count", "object": {"colour": "green", "shape": "triangle"}, "count": 3}


@pytest.fixture
def checked():
    cases = [
        ("Move the red circle to the left.", MOVE),  # right
        ("Move the red circle to the right.", MOVE),  # orientation: wrong direction
        ("Pan the camera to the left.", PAN),  # right
        ("Move everything to the left.", PAN),  # viewpoint: the content moves right when the camera pans left
        ("Change the colour of the red square to purple.", RECOLOUR),  # right
        ("Change the square to purple.", RECOLOUR),  # misses the object's colour: attribute recall 1/2
        ("Change the number of green triangles to two.", COUNT),  # wrong count
        (None, MOVE),  # the captioner gave nothing
    ]
    return [checked_item(f"item-{i}", text, json.dumps(spec)) for i, (text, spec) in enumerate(cases)]


def test_synthetic_suite_on_hand_written_instructions(checked):
    assert [item["correct"] for item in checked] == [True, False, True, False, True, False, False, None]
    metrics, groups = checker_metrics(checked)
    assert value(metrics["accuracy"]) == (round(3 / 8, 6), 8)  # the unanswered item counts as wrong
    assert value(metrics["orientation_accuracy"]) == (0.5, 2)
    assert value(metrics["viewpoint_accuracy"]) == (0.5, 2)
    # Colour / attribute aspects: moves 1, 1; recolours 1, 1/2; count 1 (its colour) -> 4.5 / 5.
    assert value(metrics["attribute_recall"]) == (0.9, 5)
    assert value(metrics["object_accuracy"]) == (1.0, 5)
    assert value(metrics["count_accuracy"]) == (0.8, 5)
    assert value(metrics["answered_rate"]) == (0.875, 8)
    assert value(groups["failure_mode"]["attribute"]["accuracy"]) == (round(1 / 3, 6), 3)
    assert value(groups["edit_type"]["move"]["accuracy"]) == (round(1 / 3, 6), 3)
    assert value(groups["edit_type"]["pan"]["accuracy"]) == (0.5, 2)
    assert value(groups["aspect"]["direction"]["accuracy"]) == (0.5, 4)
    assert checked[3]["checker_errors"] == ["direction: expected right, found ['left']"]


def test_rectification_success_needs_the_clip_limit_and_four_aspects():
    tokenizer = load_clip_tokenizer()
    good = "Move the red circle to the left. Layout: it shifts left. Objects: same. Details: kept. Style: flat."
    no_style = "Move the red circle to the left. Layout: it shifts left. Objects: same. Details: kept."
    too_long = good + " The circle is red." * 20
    items = [
        rectification_item("a", good, tokenizer, json.dumps(MOVE)),
        rectification_item("b", no_style, tokenizer, json.dumps(MOVE)),
        rectification_item("c", too_long, tokenizer, json.dumps(MOVE)),
        rectification_item("d", None, tokenizer, json.dumps(MOVE), status="failed"),
    ]
    assert [item["success"] for item in items] == [True, False, False, False]
    assert items[2]["clip_tokens"] > 77 and items[2]["aspects_covered"]
    assert covered_aspects(no_style) == {"layout": True, "objects": True, "details": True, "style": False}
    metrics, groups = rectification_metrics(items)
    assert value(metrics["rectification_success"]) == (0.25, 4)
    assert value(metrics["within_clip_limit_rate"]) == (0.5, 4)
    assert value(metrics["aspects_covered_rate"]) == (0.5, 4)
    assert value(metrics["rectified_correct_rate"]) == (0.75, 4)
    assert value(groups["aspect"]["style"]["covered_rate"]) == (0.5, 4)


def test_negative_validity_is_wrong_on_exactly_one_aspect():
    negatives = [
        "Move the blue circle to the left.",  # valid: only the colour differs
        "Move the blue circle to the right.",  # two aspects wrong
        "Move the red circle to the left.",  # not wrong at all
    ]
    item = negatives_item("a", negatives, ["colour", "colour", "position"], json.dumps(MOVE))
    assert item["valid"] == [True, False, False]
    metrics, groups = negatives_metrics([item, negatives_item("b", [], [], json.dumps(MOVE))])
    assert value(metrics["negative_validity"]) == (round(1 / 3, 6), 3)
    assert value(metrics["valid_negative_row_rate"]) == (0.5, 2)
    assert value(groups["negative_attribute"]["colour"]["negative_validity"]) == (0.5, 2)


def test_paired_differences_match_items_by_id():
    def result(system, scores):
        items = [{"id": item_id, "score": score} for item_id, score in scores.items()]
        return SuiteResult("instruction_quality", system, {}, items=items, meta={"item_metrics": ["score"]})

    first = result("base", {"x": 5, "y": 4, "z": 1})
    second = result("new", {"z": 3, "y": 5, "x": 5, "w": 0})
    (comparison,) = paired_comparisons([first, second])
    assert comparison["shared_items"] == 3 and comparison["metric"] == "score"
    assert comparison["difference"]["value"] == 1.0  # (0 + 1 + 2) / 3
