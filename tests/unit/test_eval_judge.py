"""The instruction-quality question: its extra fields are parsed strictly, and never raise."""

import json

import pytest
from tests.synth_servers import ScriptedBackend, request_text

from edit_handbook.synth.judge import Judge, Verdict, parse_judge_answer
from edit_handbook.synth.prompts import (
    INSTRUCTION_ACCURACY,
    INSTRUCTION_QUALITY,
    judge_format,
    judge_messages,
    judge_schema,
)


def answer(**fields) -> str:
    base = {"answer": "no", "score": 2, "classification": "critical", "error_type": "orientation", "reason": "left"}
    return json.dumps({**base, **fields})


def parse(text: str) -> Verdict:
    return parse_judge_answer(text, INSTRUCTION_QUALITY.max_score, INSTRUCTION_QUALITY.fields)


def test_valid_answer_fills_extra_fields_in_lower_case():
    verdict = parse(answer(classification="Critical", error_type=" Orientation "))
    assert verdict == Verdict(
        answer=False, score=2.0, reason="left", extra={"classification": "critical", "error_type": "orientation"}
    )
    assert parse(answer(answer="yes", score=5, classification="correct", error_type="none")).ok


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"classification": "wrong"}, "'classification' must be one of correct, minor, critical, got 'wrong'"),
        ({"error_type": "spelling"}, "'error_type' must be one of none, orientation, viewpoint, attribute, other"),
        ({"error_type": 3}, "'error_type' must be one of none, orientation, viewpoint, attribute, other, got 3"),
        ({"error_type": "none"}, "'error_type' must be 'none' exactly when 'classification' is 'correct'"),
        ({"classification": "correct"}, "got 'orientation' with classification 'correct'"),
        ({"score": 6}, "'score' 6 is outside [0, 5]"),
    ],
)
def test_bad_fields_give_clear_errors(fields, message):
    verdict = parse(answer(**fields))
    assert not verdict.ok and verdict.extra == {} and verdict.score is None
    assert message in verdict.error


def test_missing_extra_fields_are_named():
    text = json.dumps({"answer": "yes", "score": 5, "reason": "ok"})
    verdict = parse(text)
    assert verdict.error == "missing field 'classification'; missing field 'error_type'"
    assert parse_judge_answer(text).ok  # the same answer is complete for a question without extra fields


@pytest.mark.parametrize("text", ["Score: 4/5, minor orientation error", "", "[]", '{"answer": "yes"'])
def test_not_json_is_an_error_not_an_exception(text):
    assert not parse(text).ok


def test_prompt_and_schema_ask_for_the_fields():
    text = judge_format(INSTRUCTION_QUALITY)
    assert '"classification": one of "correct", "minor", "critical"' in text
    assert '"error_type": one of "none", "orientation", "viewpoint", "attribute", "other"' in text
    schema = judge_schema(INSTRUCTION_QUALITY.max_score, INSTRUCTION_QUALITY.fields)
    assert schema["required"] == ["answer", "score", "classification", "error_type", "reason"]
    assert schema["properties"]["classification"]["enum"] == ["correct", "minor", "critical"]
    rubric = request_text({"messages": judge_messages(INSTRUCTION_QUALITY, "Move it left.")})
    assert "5 = correct and complete" in rubric and '"Move it left."' in rubric


def test_questions_without_fields_keep_their_exact_format():
    assert judge_format(INSTRUCTION_ACCURACY) == (
        'Answer with one JSON object and nothing else: {"answer": "yes" or "no", "score": an integer from 0 to 5, '
        '"reason": "one short sentence"}.'
    )
    assert judge_schema(5)["required"] == ["answer", "score", "reason"]


def test_judge_repairs_an_inconsistent_classification():
    answers = iter([answer(classification="correct"), answer()])
    backend = ScriptedBackend(lambda request: next(answers))
    (verdict,) = Judge(backend, INSTRUCTION_QUALITY)([{"source": "S", "target": "T"}], ["Move the circle left."])
    assert verdict.extra == {"classification": "critical", "error_type": "orientation"}
    first, repair = backend.requests
    assert first.json_schema["required"][2:4] == ["classification", "error_type"]
    assert "exactly when 'classification' is 'correct'" in request_text(repair)
