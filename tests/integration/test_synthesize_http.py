"""The HTTP backend against a real `transformers serve` process on loopback serving the tiny Qwen3-VL."""

import pytest

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.synth.backends import HTTPBackend
from edit_handbook.synth.engine import run_task
from edit_handbook.synth.judge import Judge
from edit_handbook.synth.tasks import make_task


@pytest.fixture(scope="module")
def pairs():
    return generate_dataset(3, image_size=64)


@pytest.fixture
def backend(tiny_vlm_server):
    base_url, model = tiny_vlm_server
    return HTTPBackend(base_url, model, api_key_env=None, concurrency=4, timeout=120, max_retries=2, backoff=0.1)


def test_two_image_requests_get_answers_from_the_real_server(backend, pairs, tmp_path):
    rows = run_task(pairs, make_task("caption", max_new_tokens=8), backend, tmp_path, chunk_size=3, progress=False)
    assert list(rows["id"]) == list(pairs["id"])
    # The random tiny model may answer nothing readable, but every request reached the server and came back.
    assert not any("gave up" in reason or "HTTP" in reason for reason in rows["synthesis_reason"])
    assert set(rows["synthesis_status"]) <= {"ok", "failed"}
    assert backend.retries == {}


def test_the_judge_runs_on_the_real_server_and_reports_unreadable_answers(backend, pairs):
    images = [{"source": row["source_image"], "target": row["target_image"]} for row in pairs]
    verdicts = Judge(backend, max_new_tokens=8)(images, list(pairs["instruction"]))
    assert len(verdicts) == len(pairs)
    for verdict in verdicts:  # random weights: not JSON, so one repair attempt and then a clear error
        assert verdict.ok or verdict.error.startswith("unreadable after one repair")
