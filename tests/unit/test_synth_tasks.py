"""The four tasks on a scripted backend, with the real CLIP tokenizer measuring the 77-token limit."""

import json

import pytest
from tests.synth_servers import ScriptedBackend, request_text

from edit_handbook.data import schema
from edit_handbook.data.synthetic import make_pair
from edit_handbook.data.synthetic.vocabulary import OPPOSITE
from edit_handbook.models import load_clip_tokenizer
from edit_handbook.synth.backends import Reply
from edit_handbook.synth.prompts import prompt_version
from edit_handbook.synth.tasks import (
    FAILED,
    OK,
    REJECTED,
    clip_token_count,
    make_task,
    negative_is_valid,
    screen_negatives,
)


@pytest.fixture(scope="module")
def clip(model_cache_dir):
    return load_clip_tokenizer(model_cache_dir)


@pytest.fixture(scope="module")
def pairs():
    return [make_pair(index, image_size=32) for index in range(4)]


def words(n: int) -> str:
    return " ".join(["red"] * n)


def test_clip_token_count_counts_begin_and_end_without_truncating(clip):
    assert clip_token_count(clip, "a photo of a cat") == 7  # [49406, 320, 1125, 539, 320, 2368, 49407]
    assert clip_token_count(clip, words(75)) == 77
    assert clip_token_count(clip, words(76)) == 78
    assert clip_token_count(clip, words(200)) == 202


def test_rectify_summarises_long_answers_and_never_truncates(clip, pairs):
    first_answers = ["Move the arrow right.", words(80), "BLUE " + words(80), Reply(error="HTTP 500")]

    def answer(request):
        text = request_text(request)
        if "Shorten this description" in text:
            return "too long " + words(90) if "BLUE" in text else "Move the arrow right. Layout: unchanged."
        return first_answers[next(i for i, row in enumerate(pairs) if row[schema.INSTRUCTION] in text)]

    backend = ScriptedBackend(answer)
    outcomes = make_task("rectify", clip_tokenizer=clip)(pairs, backend)
    short, long, longer, failed = outcomes
    assert short["synthesis_status"] == OK and short["rectified_instruction"] == "Move the arrow right."
    assert short["rectify_summarised"] is False and short["rectify_clip_tokens"] == 7
    assert long["synthesis_status"] == OK and long["rectify_summarised"] is True
    assert long["rectified_instruction"] == "Move the arrow right. Layout: unchanged."
    assert long["rectify_long_answer"] == words(80)
    assert longer["synthesis_status"] == REJECTED and longer["rectify_clip_tokens"] == 94
    assert "still 94 CLIP tokens after summarising (limit 77)" in longer["synthesis_reason"]
    assert failed["synthesis_status"] == FAILED and failed["synthesis_reason"] == "HTTP 500"
    assert all(o["prompt_version"] == prompt_version() for o in outcomes)
    assert sum("Shorten" in request_text(r) for r in backend.requests) == 2  # one summarising call per long answer
    assert pairs[0][schema.INSTRUCTION] in request_text(backend.requests[0])  # the hint SuperEdit rectifies


def test_screen_negatives_rejects_each_kind_of_bad_negative(clip):
    positive = "Move the red circle to the left."
    candidates = [
        ("Move the blue circle to the left.", "colour"),
        ("move the red circle to the left.", "colour"),
        ("Move red circle left", "position"),
        ("Move the red circle far " + " ".join(["away"] * 80) + " to the left.", "position"),
        ("Move the BLUE circle to the left!", "colour"),
        ("Move the red square to the left.", "shape"),
        ("  ", "object"),
        ("Move the red circle to the right.", "position"),
        ("Move two red circles to the left.", "quantity"),
        ("Move the red square to the left.", "object"),
    ]
    kept, rejected = screen_negatives(positive, candidates, clip, k=3, max_clip_tokens=77)
    assert kept == [
        ("Move the blue circle to the left.", "colour"),
        ("Move the red circle to the right.", "position"),
        ("Move two red circles to the left.", "quantity"),
    ]
    reasons = [text.split(":")[0] for text in rejected]
    assert reasons == [
        "identical to the positive",
        "near-paraphrase of the positive",
        "too long (91 CLIP tokens)",
        "duplicate",
        "unknown attribute 'shape'",
        "empty",
        "more than k=3",
    ]


def test_negative_validity_uses_the_exact_checker(pairs):
    for row in pairs:
        assert all(negative_is_valid(text, row["edit_spec"]) for text in row[schema.NEGATIVES])
        assert not negative_is_valid(row[schema.INSTRUCTION], row["edit_spec"])  # the positive is not a negative
    spec = json.loads(pairs[0]["edit_spec"])  # a move: changing colour and direction contradicts on two aspects
    other_colour = "purple" if spec["object"]["colour"] != "purple" else "red"
    wrong_twice = pairs[0][schema.INSTRUCTION].replace(spec["object"]["colour"], other_colour)
    wrong_twice = wrong_twice.replace(spec["direction"], OPPOSITE[spec["direction"]])
    assert not negative_is_valid(wrong_twice, pairs[0]["edit_spec"])


def test_negatives_task_records_attributes_validity_and_rejections(clip, pairs):
    def answer(request):
        row = next(r for r in pairs if r[schema.RECTIFIED] in request_text(request))
        items = [{"attribute": a, "instruction": t} for t, a in zip(row[schema.NEGATIVES], row["negative_attributes"])]
        items.append({"attribute": "colour", "instruction": row[schema.RECTIFIED]})
        return json.dumps({"negatives": items})

    outcomes = make_task("negatives", clip_tokenizer=clip, k=4)(pairs, ScriptedBackend(answer))
    for row, outcome in zip(pairs, outcomes):
        assert outcome["synthesis_status"] == OK
        assert outcome["negative_instructions"] == row[schema.NEGATIVES]
        assert outcome["negative_attributes"] == row["negative_attributes"]
        assert outcome["negative_valid"] == [True] * len(row[schema.NEGATIVES])
        assert outcome["negatives_rejected"] == [f"identical to the positive: {row[schema.RECTIFIED]}"]


def test_negatives_unreadable_twice_is_a_failure_with_its_reason(clip, pairs):
    outcomes = make_task("negatives", clip_tokenizer=clip)(pairs[:1], ScriptedBackend(lambda r: '{"negs": []}'))
    assert outcomes[0]["synthesis_status"] == FAILED
    assert outcomes[0]["synthesis_reason"] == "unreadable after one repair: missing list field 'negatives'"


def test_filter_keeps_scores_and_reasons(pairs):
    scores = {row[schema.INSTRUCTION]: score for row, score in zip(pairs, [5, 2, None])}

    def answer(request):
        score = next(score for instruction, score in scores.items() if instruction in request_text(request))
        return "no JSON" if score is None else json.dumps({"answer": "yes", "score": score, "reason": f"s{score}"})

    kept, low, broken = make_task("filter", threshold=4)(pairs[:3], ScriptedBackend(answer))
    assert (kept["synthesis_status"], kept["judge_score"], kept["judge_reason"]) == (OK, 5.0, "s5")
    assert low["synthesis_status"] == REJECTED and low["judge_score"] == 2.0
    assert low["synthesis_reason"] == "judge score 2 below threshold 4"
    assert broken["synthesis_status"] == FAILED and broken["judge_score"] is None


def test_caption_keeps_the_original_instruction(pairs):
    answers = iter(["Move it.", ""])
    kept, failed = make_task("caption")(pairs[:2], ScriptedBackend(lambda request: next(answers)))
    assert (kept["instruction"], kept["original_instruction"]) == ("Move it.", pairs[0][schema.INSTRUCTION])
    assert (failed["synthesis_status"], failed["synthesis_reason"]) == (FAILED, "empty answer")
    assert failed["instruction"] == pairs[1][schema.INSTRUCTION]
