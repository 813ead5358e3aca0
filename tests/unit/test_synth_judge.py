"""The judge's answer parsing: every malformed answer becomes a clear error, never an exception."""

import pytest
from tests.synth_servers import ScriptedBackend, request_text

from edit_handbook.synth.backends import parse_json_object
from edit_handbook.synth.judge import Judge, Verdict, parse_judge_answer
from edit_handbook.synth.prompts import INSTRUCTION_ACCURACY


def test_valid_answer():
    verdict = parse_judge_answer('{"answer": "Yes", "score": 4, "reason": " the circle moved left "}')
    assert verdict == Verdict(answer=True, score=4.0, reason="the circle moved left")
    assert verdict.ok


def test_code_fence_and_boolean_answer_are_accepted():
    verdict = parse_judge_answer('```json\n{"answer": false, "score": 0.5, "reason": "wrong colour"}\n```')
    assert (verdict.answer, verdict.score, verdict.ok) == (False, 0.5, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"answer": "yes", "reason": "ok"}', "missing field 'score'"),
        ('{"score": 3}', "missing field 'answer'; missing field 'reason'"),
        ('{"answer": "yes", "score": 7, "reason": "x"}', "'score' 7 is outside [0, 5]"),
        ('{"answer": "yes", "score": -1, "reason": "x"}', "'score' -1 is outside [0, 5]"),
        ('{"answer": "maybe", "score": 3, "reason": "x"}', "'answer' must be 'yes' or 'no', got 'maybe'"),
        ('{"answer": "yes", "score": "4", "reason": "x"}', "'score' must be a number, got '4'"),
        ('{"answer": "yes", "score": true, "reason": "x"}', "'score' must be a number, got True"),
        ('{"answer": "yes", "score": 3, "reason": 5}', "'reason' must be text, got int"),
        ("The instruction is right, 5/5.", "not JSON"),
        ("", "the answer is empty"),
        ("[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_malformed_answers_give_errors_not_exceptions(text, message):
    verdict = parse_judge_answer(text)
    assert not verdict.ok
    assert verdict.answer is None and verdict.score is None
    assert message in verdict.error


def test_parse_json_object_is_strict_about_surrounding_text():
    with pytest.raises(ValueError, match="not JSON"):
        parse_json_object('Sure! {"answer": "yes"}')


def test_judge_repairs_one_unreadable_answer_and_names_the_images():
    answers = iter(["I think yes", '{"answer": "yes", "score": 5, "reason": "exact"}'])
    backend = ScriptedBackend(lambda request: next(answers))
    (verdict,) = Judge(backend)([{"source": "S", "target": "T"}], ["Move the red circle left."])
    assert verdict == Verdict(answer=True, score=5.0, reason="exact")
    first, repair = backend.requests
    assert first.images == ["S", "T"] and repair.images == ["S", "T"]
    assert "Move the red circle left." in request_text(first)
    assert "could not be read: not JSON" in request_text(repair)
    assert first.json_schema["properties"]["score"]["maximum"] == INSTRUCTION_ACCURACY.max_score


def test_judge_gives_up_after_one_repair():
    backend = ScriptedBackend(lambda request: '{"answer": "yes", "score": 9, "reason": "x"}')
    (verdict,) = Judge(backend)([{"source": "S", "target": "T"}], ["x"])
    assert verdict.error == "unreadable after one repair: 'score' 9 is outside [0, 5]"
    assert len(backend.requests) == 2
