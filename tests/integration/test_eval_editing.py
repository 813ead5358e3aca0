"""Real-Edit editing evaluation end to end on tiny models: edit, judge, measure, aggregate, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from diffusers import StableDiffusionInstructPix2PixPipeline
from PIL import Image
from tests.synth_servers import ScriptedBackend, request_text

from edit_handbook.evaluation.configs import EditingEvaluationArguments
from edit_handbook.evaluation.editing import NOTE, evaluate_editor, make_edits
from edit_handbook.evaluation.metrics.tiny import tiny_clip, tiny_dinov2
from edit_handbook.evaluation.real_edit import RealEditItem, load_real_edit
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.models.cache import CACHE_ENV
from edit_handbook.superedit.model import load_editor
from edit_handbook.synth.backends import LocalBackend


TABLE = {
    "1.jpeg": ["1. Local: Make the cup red.", "7. Style: Make it a watercolor painting."],
    "2.jpeg": ["1. Local: Replace the dog with a cat.", "7. Style: Make it look like a pencil sketch."],
}
SIZES = {"1.jpeg": (40, 24), "2.jpeg": (32, 32)}


@pytest.fixture
def bench(tmp_path) -> Path:
    """Two photos of different sizes x two edit types, in the release layout."""
    root = tmp_path / "real_edit"
    (root / "imgs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for key, (width, height) in SIZES.items():
        Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)).save(root / "imgs" / key)
    (root / "eval_instruct.json").write_text(json.dumps(TABLE))
    return root


@pytest.fixture(scope="module")
def editor(tiny_ip2p_path):
    return load_editor(str(tiny_ip2p_path))


@pytest.fixture(scope="module")
def metric_settings(model_cache_dir) -> dict:
    return {
        "edit_clip_model": str(tiny_clip(cache_dir=model_cache_dir)),
        "edit_dino_model": str(tiny_dinov2(cache_dir=model_cache_dir)),
    }


def fast(**overrides) -> EditingEvaluationArguments:
    return EditingEvaluationArguments(**{"edit_num_inference_steps": 2, "edit_judge_resolution": 48, **overrides})


class CountingBackend:
    """Passes requests on to `backend`, counting generate calls."""

    def __init__(self, backend):
        self.backend, self.calls = backend, 0
        self.name, self.model_name = backend.name, backend.model_name

    def describe(self):
        return self.backend.describe()

    def generate(self, requests):
        self.calls += 1
        return self.backend.generate(requests)


def test_tiny_editor_and_tiny_vlm_judge_end_to_end_then_resume(
    bench, editor, tiny_qwen3_vl_path, metric_settings, tmp_path
):
    judge = CountingBackend(LocalBackend.from_pretrained(str(tiny_qwen3_vl_path), dtype="float32", device="cpu"))
    settings = fast(edit_judge_max_new_tokens=12, **metric_settings)
    output = tmp_path / "out"
    result = evaluate_editor(editor, bench, judge, output, settings=settings, system="tiny-editor", progress=False)

    assert result.suite == "real_edit" and result.system == "tiny-editor" and result.meta["note"] == NOTE
    assert [item["id"] for item in result.items] == ["1_local", "1_style", "2_local", "2_style"]
    assert result.meta["edits_made"] == 4 and judge.calls > 0
    for item in result.items:
        edit, source = Image.open(item["images"]["edit"]), Image.open(item["images"]["source"])
        assert edit.size == SIZES[item["key"]] and source.size == SIZES[item["key"]]
        assert Path(item["images"]["edit"]).parent == output / "edits"
    # A random tiny judge may answer anything: each answer is either usable or counted as unusable.
    for dimension in ("following", "preserving", "quality"):
        usable = result.metrics[f"{dimension}_score"].n
        unusable = sum(item[f"{dimension}_unusable"] for item in result.items)
        assert usable + unusable == 4 and result.meta["judge"]["unusable_answers"][dimension] == unusable
        assert result.metrics[f"{dimension}_unusable"].value == pytest.approx(unusable / 4)
        assert all(item[f"{dimension}_error"] for item in result.items if item[f"{dimension}_unusable"])
    for name in ("clip_i", "clip_t", "clip_directional", "dino_similarity"):
        assert result.metrics[name].n == 4 and -1 <= result.metrics[name].value <= 1
    assert set(result.groups["edit_type"]) == {"Local", "Style"}
    assert result.groups["edit_type"]["Style"]["clip_i"].n == 2
    assert SuiteResult.load(output / "result.json").to_dict() == result.to_dict()

    edit_times = {path: path.stat().st_mtime_ns for path in (output / "edits").glob("*.png")}
    judge.calls = 0
    again = evaluate_editor(editor, bench, judge, output, settings=settings, system="tiny-editor", progress=False)
    assert again.meta["edits_made"] == 0 and again.meta["edits_reused"] == 4
    assert judge.calls == 0 and again.meta["judge"]["backend_calls"] == 0
    assert {path: path.stat().st_mtime_ns for path in (output / "edits").glob("*.png")} == edit_times
    assert again.metrics == result.metrics


def scripted_judge(request) -> str:
    """Following: always yes, 4. Preserving: no, 2 on Local; yes, 5 on Style. Quality: never usable."""
    text = request_text(request)
    style = "watercolor" in text or "pencil" in text
    if "carry it out" in text:
        return '{"answer": "yes", "score": 4, "reason": "done"}'
    if "does not ask to change" in text:
        return (
            '{"answer": "yes", "score": 5, "reason": "kept"}'
            if style
            else '{"answer": "no", "score": 2, "reason": "x"}'
        )
    if len(request.images) == 1:
        return '{"answer": "yes", "score": 3}'  # no reason: unusable, even after the repair
    raise AssertionError(f"unexpected request: {text}")


def test_aggregates_hand_values_with_a_scripted_judge(bench, editor, tmp_path):
    # Quality sees the edit only, so it cannot tell Style from Local: every quality answer is unusable.
    result = evaluate_editor(
        editor, bench, ScriptedBackend(scripted_judge), tmp_path / "out", settings=fast(), metrics=[]
    )
    metrics = result.metrics
    assert (metrics["following_yes"].value, metrics["following_score"].value) == (1.0, 4.0)
    assert (metrics["preserving_yes"].value, metrics["preserving_score"].value) == (0.5, 3.5)
    assert 0 <= metrics["preserving_yes"].low <= 0.5 <= metrics["preserving_yes"].high <= 1
    assert metrics["quality_score"].n == 0 and metrics["quality_unusable"].value == 1.0
    local, style = result.groups["edit_type"]["Local"], result.groups["edit_type"]["Style"]
    assert (local["preserving_yes"].value, local["preserving_score"].value, local["preserving_yes"].n) == (0.0, 2.0, 2)
    assert (style["preserving_yes"].value, style["preserving_score"].value) == (1.0, 5.0)
    assert result.items[0]["judge_score"] == pytest.approx(3.0) and result.rank_key == "judge_score"
    assert result.items[0]["quality_error"].startswith("unreadable after one repair: missing field 'reason'")
    assert not any(name in metrics for name in ("clip_i", "l1"))


def test_judge_sees_source_and_edit_at_the_judge_height(bench, editor, tmp_path):
    backend = ScriptedBackend(lambda request: '{"answer": "yes", "score": 5, "reason": "ok"}')
    evaluate_editor(editor, bench, backend, tmp_path / "out", settings=fast(edit_judge_resolution=12), metrics=[])
    following = [r for r in backend.requests if "carry it out" in request_text(r)]
    quality = [r for r in backend.requests if len(r.images) == 1]
    assert len(following) == len(quality) == 4
    assert [image.size for image in following[0].images] == [(20, 12), (20, 12)]  # 40x24 at 12 px high
    assert re.search(r'instruction: "Make the cup red\."', request_text(following[0]))


def test_a_killed_run_resumes_with_the_same_edits(bench, editor, tmp_path, monkeypatch):
    items = load_real_edit(bench)
    settings = fast(edit_batch_size=1)
    whole, made = make_edits(editor, items, tmp_path / "whole", settings, progress=False)
    assert made == 4

    class Killed(Exception):
        pass

    original, calls = StableDiffusionInstructPix2PixPipeline.__call__, []

    def dies_on_the_third_edit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionInstructPix2PixPipeline, "__call__", dies_on_the_third_edit)
    with pytest.raises(Killed):
        make_edits(editor, items, tmp_path / "killed", settings, progress=False)
    assert sorted(path.name for path in (tmp_path / "killed").iterdir()) == [
        "1_local.png",
        "1_style.png",
        "settings.json",
    ]
    monkeypatch.undo()
    resumed, made = make_edits(editor, items, tmp_path / "killed", settings, progress=False)
    assert made == 2
    for first, second in zip(whole, resumed):  # each edit has its own seeded generator: order does not matter
        np.testing.assert_array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))


def test_edits_made_with_other_settings_are_not_reused(bench, editor, tmp_path):
    items = load_real_edit(bench, images=["2.jpeg"])
    make_edits(editor, items, tmp_path, fast(), progress=False)
    with pytest.raises(
        ValueError, match=r"made with other settings \(stored, now\): \{'num_inference_steps': \(2, 3\)\}"
    ):
        make_edits(editor, items, tmp_path, fast(edit_num_inference_steps=3), progress=False)
    _, made = make_edits(
        editor, items, tmp_path, fast(edit_num_inference_steps=3, edit_overwrite=True), progress=False
    )
    assert made == 2


def test_metrics_only_with_targets_and_a_missing_model(
    bench, editor, metric_settings, tmp_path, model_cache_dir, monkeypatch
):
    """Without a judge only metrics run; a model that cannot load skips its metrics with the reason."""
    monkeypatch.setenv(CACHE_ENV, str(model_cache_dir))  # the editor is loaded by name, from the session cache
    target = bench / "target.png"
    Image.new("RGB", (40, 24), (0, 0, 0)).save(target)
    items = [
        RealEditItem("1.jpeg", "Local", "Make the cup red.", bench / "imgs" / "1.jpeg", target_path=target),
        RealEditItem("2.jpeg", "Style", "Make it a sketch.", bench / "imgs" / "2.jpeg"),
    ]
    settings = fast(
        edit_clip_model=str(tmp_path / "no-such-model"), edit_dino_model=metric_settings["edit_dino_model"]
    )
    result = evaluate_editor(
        "tiny:instruct-pix2pix",
        items,
        None,
        tmp_path / "out",
        settings=settings,
        metrics=["clip_i", "dino_similarity", "l1"],
    )
    assert "judge" not in result.meta and "following_yes" not in result.metrics
    assert (
        set(result.meta["metrics"]["skipped"]) == {"clip_i"}
        and "could not be loaded" in result.meta["metrics"]["skipped"]["clip_i"]
    )
    assert result.metrics["dino_similarity"].n == 2 and result.metrics["l1"].n == 1
    edit = np.asarray(Image.open(result.items[0]["images"]["edit"]), dtype=float) / 255
    assert result.items[0]["l1"] == pytest.approx(edit.mean()) and result.items[1]["l1"] is None
    assert result.items[0]["images"]["target"] == str(target.resolve())
    assert result.rank_key is None and result.system == "tiny:instruct-pix2pix"


def test_bad_requests_fail_before_any_work(bench, editor, tmp_path):
    with pytest.raises(ValueError, match=r"unknown edit metrics \['fid'\]"):
        evaluate_editor(editor, bench, None, tmp_path, settings=fast(), metrics=["fid"])
    with pytest.raises(ValueError, match="the benchmark \\(after its filters\\) is empty"):
        evaluate_editor(editor, [], None, tmp_path, settings=fast())
    with pytest.raises(ValueError, match="edit_metrics: unknown \\['fid'\\]"):
        EditingEvaluationArguments(edit_metrics=["fid"])
    assert not (tmp_path / "edits").exists()
