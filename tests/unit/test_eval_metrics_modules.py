"""Each local `evaluate` module loads by path and computes, on tiny random CLIP and DINOv2 checkpoints."""

from __future__ import annotations

import evaluate
import numpy as np
import pytest
from PIL import Image

from edit_handbook.evaluation.metrics import METRIC_MODULES, MetricModels, compute_edit_metrics, metric_path
from edit_handbook.evaluation.metrics.encoders import ClipEncoder
from edit_handbook.evaluation.metrics.tiny import tiny_clip, tiny_dinov2


@pytest.fixture(scope="module")
def clip_path(model_cache_dir):
    return str(tiny_clip(cache_dir=model_cache_dir))


@pytest.fixture(scope="module")
def dino_path(model_cache_dir):
    return str(tiny_dinov2(cache_dir=model_cache_dir))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((24, 40, 3)) * 255).astype(np.uint8)) for _ in range(4)]


def test_every_module_is_an_evaluate_metric():
    for module in METRIC_MODULES:
        metric = evaluate.load(metric_path(module))
        assert isinstance(metric, evaluate.Metric) and type(metric).__name__ != "EditMetric"
    with pytest.raises(ValueError, match="unknown metric module 'fid'"):
        metric_path("fid")


def test_clip_modules_match_the_direct_computation(clip_path, images):
    source, *edits = images
    models = MetricModels(clip_model=clip_path, batch_size=2)
    texts = ["make it red", "add a hat", "remove the dog"]
    direct = compute_edit_metrics(
        ["clip_i", "clip_t", "clip_directional"], [source] * 3, edits, instructions=texts, models=models
    )
    clip_i = evaluate.load(metric_path("clip_i")).compute(
        predictions=edits + [source], references=[source] * 4, model=clip_path, batch_size=2
    )
    assert clip_i["clip_i_scores"][:3] == pytest.approx(direct["clip_i"], abs=1e-5)
    assert clip_i["clip_i_scores"][3] == pytest.approx(1.0, abs=1e-5)  # an untouched image keeps everything
    assert clip_i["clip_i"] == pytest.approx(np.mean(clip_i["clip_i_scores"]))
    clip_t = evaluate.load(metric_path("clip_t")).compute(predictions=edits, references=texts, model=clip_path)
    assert clip_t["clip_t_scores"] == pytest.approx(direct["clip_t"], abs=1e-5)
    directional = evaluate.load(metric_path("clip_directional")).compute(
        predictions=edits, references=[source] * 3, source_texts=[""] * 3, target_texts=texts, model=clip_path
    )
    assert directional["clip_directional_scores"] == pytest.approx(direct["clip_directional"], abs=1e-5)
    assert all(-1 <= value <= 1 for values in direct.values() for value in values)


def test_directional_module_needs_target_texts(clip_path, images):
    module = evaluate.load(metric_path("clip_directional"))
    with pytest.raises(ValueError, match="every target text must be non-empty"):
        module.compute(predictions=images[:1], references=images[:1], source_texts=["a"], target_texts=[""])


def test_dino_module(dino_path, images):
    source, edit = images[:2]
    result = evaluate.load(metric_path("dino_similarity")).compute(
        predictions=[edit, source], references=[source, source], model=dino_path
    )
    assert result["dino_similarity_scores"][1] == pytest.approx(1.0, abs=1e-5)
    assert -1 <= result["dino_similarity_scores"][0] < 1


def test_pixel_distance_module_needs_no_model(tmp_path):
    black, grey = Image.new("RGB", (8, 6)), Image.new("RGB", (4, 3), (51, 51, 51))
    grey.save(tmp_path / "grey.png")
    result = evaluate.load(metric_path("pixel_distance")).compute(
        predictions=[black, grey], references=[str(tmp_path / "grey.png")] * 2
    )
    assert result["l1_scores"] == pytest.approx([0.2, 0.0]) and result["l2_scores"] == pytest.approx([0.04, 0.0])
    assert result["l1"] == pytest.approx(0.1)


def test_clip_embeddings_do_not_depend_on_batching(clip_path, images):
    one, three = ClipEncoder(clip_path, device="cpu", batch_size=1), ClipEncoder(clip_path, device="cpu", batch_size=3)
    np.testing.assert_allclose(one.images(images), three.images(images), atol=1e-5)
    texts = ["a", "a much longer instruction " * 30]  # cut at CLIP's 77 tokens instead of failing
    np.testing.assert_allclose(one.texts(texts), three.texts(texts), atol=1e-5)
