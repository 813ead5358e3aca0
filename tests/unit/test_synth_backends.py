"""The HTTP backend against a misbehaving loopback server, and the local backend's batching."""

import json
import time
from types import SimpleNamespace

import torch
from PIL import Image
from tests.synth_servers import FaultServer, request_text

from edit_handbook.models import generation
from edit_handbook.models.generation import Prompt, plan_batches
from edit_handbook.synth.backends import HTTPBackend, LocalBackend, Request, ask_json, openai_messages
from edit_handbook.synth.judge import Judge


SECRET = "sk-test-never-print-me"


def echo(body: dict) -> str:
    """Answers with the request's last text part, so every reply names its request."""
    return request_text(body).split()[-1]


def requests_for(n: int, images=()) -> list[Request]:
    return [
        Request([{"role": "user", "content": [{"type": "text", "text": f"item-{i}"}]}], list(images), 8)
        for i in range(n)
    ]


def backend_for(server: FaultServer, **kwargs) -> HTTPBackend:
    settings = dict(concurrency=4, timeout=0.5, max_retries=3, backoff=0.01, max_backoff=0.05, api_key_env="SYNTH_KEY")
    return HTTPBackend(server.base_url, "fake-model", **{**settings, **kwargs})


def test_retries_429_500_garbage_and_stalls_without_losing_a_request(monkeypatch):
    monkeypatch.setenv("SYNTH_KEY", SECRET)
    faults = ["429", "500", "garbage", "stall", "429", "500"]
    with FaultServer(echo, faults=faults, stall_s=1.5) as server:
        backend = backend_for(server)
        start = time.perf_counter()
        replies = backend.generate(requests_for(12))
    assert [reply.text for reply in replies] == [f"item-{i}" for i in range(12)]
    assert server.count == 12 + len(faults)
    assert backend.retries == {"http_429": 2, "http_500": 2, "bad_body": 1, "timeout": 1}
    assert time.perf_counter() - start < 10
    assert all(headers["Authorization"] == f"Bearer {SECRET}" for headers in server.headers_seen)
    assert SECRET not in repr(backend) + json.dumps(backend.describe())
    assert backend.describe()["api_key"] == "from $SYNTH_KEY"


def test_persistent_failures_become_replies_with_reasons_not_exceptions():
    with FaultServer(echo, faults=["500"] * 3) as server:
        (reply,) = backend_for(server, max_retries=2).generate(requests_for(1))
    assert not reply.ok
    assert reply.error.startswith("transient: gave up after 3 attempts; last: http_500") and reply.transient


def test_concurrency_is_bounded():
    in_flight, peak = [0], [0]

    def slow(body):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        in_flight[0] -= 1
        return "ok"

    with FaultServer(slow) as server:
        replies = backend_for(server, concurrency=3, timeout=5).generate(requests_for(9))
    assert all(reply.ok for reply in replies)
    assert peak[0] <= 3


def test_garbage_json_content_gets_one_repair_then_the_judge_reads_it():
    answers = iter(["certainly! yes", '{"answer": "no", "score": 1, "reason": "wrong object"}'])
    with FaultServer(lambda body: next(answers)) as server:
        backend = backend_for(server, response_format="json_schema")
        (verdict,) = Judge(backend)([{"source": Image.new("RGB", (8, 8)), "target": Image.new("RGB", (8, 8))}], ["x"])
    assert (verdict.answer, verdict.score, verdict.reason) == (False, 1.0, "wrong object")
    assert server.count == 2


def test_requests_carry_the_schema_and_images_as_data_urls():
    bodies = []
    with FaultServer(lambda body: bodies.append(body) or '{"a": 1}') as server:
        request = Request(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what?"}]}],
            [Image.new("RGB", (4, 4), (255, 0, 0))],
            16,
            json_schema={"type": "object"},
        )
        results = ask_json(backend_for(server), [request], lambda answer: answer["a"])
    assert results == [(1, None, '{"a": 1}')]
    (body,) = bodies
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert body["max_tokens"] == 16 and body["model"] == "fake-model"
    image_part = body["messages"][0]["content"][0]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")


def test_openai_messages_fill_placeholders_in_order():
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "t"}, {"type": "image"}]}]
    red, blue = Image.new("RGB", (2, 2), "red"), Image.new("RGB", (2, 2), "blue")
    (converted,) = openai_messages(messages, [red, blue])
    urls = [part["image_url"]["url"] for part in converted["content"] if part["type"] == "image_url"]
    assert len(set(urls)) == 2 and converted["content"][1] == {"type": "text", "text": "t"}


def test_local_batches_group_by_image_count_and_budget_then_size():
    small, big = Image.new("RGB", (8, 8)), Image.new("RGB", (64, 64))
    requests = requests_for(3, [big, big]) + requests_for(2) + requests_for(1, [small, small])
    requests[1].max_new_tokens = 32
    prompts = [Prompt(request.messages, request.images, request.max_new_tokens) for request in requests]
    batches = plan_batches(prompts, batch_size=2)  # what LocalBackend generates through
    assert batches == [[3, 4], [5, 0], [2], [1]]


def test_local_backend_preprocesses_the_next_batch_while_this_one_generates(monkeypatch):
    """Preprocessing batch i + 1 starts before generation of batch i ends (the overlap synthesis relies on)."""
    backend = LocalBackend(torch.nn.Linear(1, 1), SimpleNamespace(), batch_size=1, prefetch=True)
    events = []

    def inputs(processor, prompts, batch):
        events.append(("prepare", batch[0], time.perf_counter()))
        time.sleep(0.05)
        return batch

    def run(model, tokenizer, batch, max_new_tokens, **generate_kwargs):
        start = time.perf_counter()
        time.sleep(0.1)
        events.append(("generate", batch[0], start, time.perf_counter()))
        return [f"answer-{batch[0]}"]

    monkeypatch.setattr(generation, "processor_inputs", inputs)
    monkeypatch.setattr(generation, "generate_answers", run)
    replies = backend.generate(requests_for(3))
    assert [reply.text for reply in replies] == ["answer-0", "answer-1", "answer-2"]
    prepared = {event[1]: event[2] for event in events if event[0] == "prepare"}
    generated = {event[1]: event[2:] for event in events if event[0] == "generate"}
    for index in (0, 1):
        start, end = generated[index]
        assert prepared[index + 1] < end, f"batch {index + 1} was prepared only after batch {index} generated"
