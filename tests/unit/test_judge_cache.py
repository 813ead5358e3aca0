"""The on-disk judge cache: a rerun costs no backend call; a changed prompt, image or budget misses."""

from __future__ import annotations

import json

from PIL import Image
from tests.synth_servers import ScriptedBackend

from edit_handbook.evaluation.judge_cache import CachedBackend, backend_identity, request_key
from edit_handbook.synth.backends import HTTPBackend, Reply, Request
from edit_handbook.synth.judge import Judge, Verdict
from edit_handbook.synth.prompts import EDIT_QUALITY


def chat(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def red(size=(4, 4)) -> Image.Image:
    return Image.new("RGB", size, (255, 0, 0))


def answer_by_text(request) -> str:
    return "answer to " + request.messages[0]["content"][1]["text"]


def test_rerun_makes_zero_backend_calls(tmp_path):
    requests = [Request(chat("is it red?"), [red()]), Request(chat("is it blue?"), [red()])]
    first = ScriptedBackend(answer_by_text)
    replies = CachedBackend(first, tmp_path).generate(requests)
    assert [r.text for r in replies] == ["answer to is it red?", "answer to is it blue?"]
    again = ScriptedBackend(answer_by_text)
    cached = CachedBackend(again, tmp_path)
    assert cached.generate(requests) == replies
    assert again.requests == [] and cached.backend_calls == 0 and (cached.hits, cached.misses) == (2, 0)
    assert cached.describe()["cache"] == {"folder": str(tmp_path), "hits": 2, "misses": 0}
    assert cached.describe()["backend"] == "scripted" and cached.name == "scripted"


def test_changed_prompt_image_or_budget_misses(tmp_path):
    base = Request(chat("is it red?"), [red()], max_new_tokens=64)
    CachedBackend(ScriptedBackend(answer_by_text), tmp_path).generate([base])
    changed = [
        Request(chat("is it red ?"), [red()], 64),
        Request(chat("is it red?"), [red((4, 5))], 64),
        Request(chat("is it red?"), [Image.new("RGB", (4, 4), (254, 0, 0))], 64),
        Request(chat("is it red?"), [red()], 65),
        Request(chat("is it red?"), [red()], 64, json_schema={"type": "object"}),
    ]
    backend = ScriptedBackend(answer_by_text)
    cached = CachedBackend(backend, tmp_path)
    cached.generate(changed)
    assert len(backend.requests) == len(changed) and cached.hits == 0
    same_pixels = Request(chat("is it red?"), [red().convert("RGBA").convert("RGB")], 64)  # a new object, same pixels
    assert cached.generate([same_pixels])[0].text == "answer to is it red?" and cached.hits == 1


def test_errors_are_not_cached(tmp_path):
    request = Request(chat("is it red?"), [red()])
    failing = ScriptedBackend(lambda r: Reply(error="HTTP 503"))
    assert CachedBackend(failing, tmp_path).generate([request])[0].error == "HTTP 503"
    working = ScriptedBackend(answer_by_text)
    assert CachedBackend(working, tmp_path).generate([request])[0].text == "answer to is it red?"
    assert len(working.requests) == 1


def test_backend_identity_ignores_how_it_runs_not_what_it_is():
    fast = HTTPBackend("http://127.0.0.1:1/v1", "judge-a", concurrency=32, timeout=5, api_key_env=None)
    slow = HTTPBackend("http://127.0.0.1:1/v1", "judge-a", concurrency=1, timeout=600, api_key_env=None)
    other = HTTPBackend("http://127.0.0.1:1/v1", "judge-b", api_key_env=None)
    slow.retries["timeout"] += 3
    request = Request(chat("q"), [red()])
    assert backend_identity(fast) == backend_identity(slow)
    assert request_key(backend_identity(fast), request) == request_key(backend_identity(slow), request)
    assert request_key(backend_identity(fast), request) != request_key(backend_identity(other), request)
    assert request_key(backend_identity(fast), request) != request_key(backend_identity(fast), request, "ckpt-2")


def test_judge_through_the_cache_including_its_repair(tmp_path):
    answers = iter(["not json", '{"answer": "no", "score": 2, "reason": "smeared"}'])
    backend = ScriptedBackend(lambda request: next(answers))
    images = [{"edit": red()}]
    (verdict,) = Judge(CachedBackend(backend, tmp_path), EDIT_QUALITY)(images, ["make it red"])
    assert verdict == Verdict(answer=False, score=2.0, reason="smeared")
    rerun = ScriptedBackend(lambda request: "never asked")
    assert Judge(CachedBackend(rerun, tmp_path), EDIT_QUALITY)(images, ["make it red"]) == [verdict]
    assert rerun.requests == []
    stored = [json.loads(path.read_text()) for path in tmp_path.rglob("*.json")]
    assert sorted(entry["text"] for entry in stored) == sorted(
        ["not json", '{"answer": "no", "score": 2, "reason": "smeared"}']
    )
