"""The shared model helpers: the tiny-model registry, generation's bucketing, the editing pipeline builder."""

from __future__ import annotations

import pytest
from diffusers import EulerAncestralDiscreteScheduler
from PIL import Image

from edit_handbook.models.editor import editing_pipeline, inference_dtype, load_editing_pipeline
from edit_handbook.models.generation import Prompt, plan_batches
from edit_handbook.models.registry import (
    TINY_INSTRUCT_PIX2PIX,
    TINY_QWEN3_VL,
    register_tiny_model,
    resolve_model,
    tiny_model_names,
)


def test_registry_passes_hub_ids_and_folders_through_and_refuses_unknown_tiny_names(tmp_path):
    assert resolve_model("Qwen/Qwen3-VL-8B-Instruct") == "Qwen/Qwen3-VL-8B-Instruct"
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert {TINY_QWEN3_VL, TINY_INSTRUCT_PIX2PIX} <= set(tiny_model_names())
    with pytest.raises(ValueError, match="unknown tiny model 'tiny:nope'.*tiny:instruct-pix2pix"):
        resolve_model("tiny:nope")


def test_registry_builds_a_registered_name_and_refuses_a_second_builder(tmp_path):
    def build():
        return tmp_path / "built"

    register_tiny_model("tiny:test-registry", build)
    register_tiny_model("tiny:test-registry", build)  # the same builder again: a no-op
    assert resolve_model("tiny:test-registry") == str(tmp_path / "built")
    with pytest.raises(ValueError, match="already taken"):
        register_tiny_model("tiny:test-registry", lambda: tmp_path)


def _prompt(text: str, images: int, budget: int) -> Prompt:
    messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
    return Prompt(messages, [Image.new("RGB", (16, 16))] * images, budget)


def test_plan_batches_groups_by_image_count_and_budget_then_sorts_by_size():
    prompts = [
        _prompt("a" * 30, 2, 64),  # 0
        _prompt("a" * 10, 1, 64),  # 1
        _prompt("a" * 20, 2, 64),  # 2
        _prompt("a" * 5, 2, 32),  # 3
        _prompt("a" * 10, 2, 64),  # 4
    ]
    # (1 image, 64) -> [1]; (2 images, 32) -> [3]; (2 images, 64) by size -> [4, 2, 0], cut at 2.
    assert plan_batches(prompts, batch_size=2) == [[1], [3], [4, 2], [0]]
    assert plan_batches([], batch_size=4) == []


def test_editing_pipeline_swaps_in_euler_ancestral_and_leaves_the_editor_alone(tiny_ip2p_path):
    loaded = load_editing_pipeline(tiny_ip2p_path, device="cpu", scheduler="pipeline")
    own = type(loaded.scheduler)
    ready = editing_pipeline(loaded)
    assert isinstance(ready.scheduler, EulerAncestralDiscreteScheduler)
    assert type(loaded.scheduler) is own and ready.unet is loaded.unet
    modules = {name: getattr(loaded, name) for name in ("vae", "text_encoder", "tokenizer", "unet", "scheduler")}
    assert isinstance(editing_pipeline(modules).scheduler, EulerAncestralDiscreteScheduler)
    with pytest.raises(ValueError, match="euler_ancestral"):
        editing_pipeline(loaded, scheduler="ddim")


def test_inference_dtype_defaults_to_float32_off_cuda():
    import torch

    assert inference_dtype("auto", "cpu") is torch.float32
    assert inference_dtype("auto", "cuda") is torch.float16
    assert inference_dtype("bfloat16", "cpu") is torch.bfloat16
