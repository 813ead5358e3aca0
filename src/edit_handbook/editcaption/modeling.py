"""Loading the instruction writer for training: named tiny models, vision-tower freezing, LoRA targets.

Kept out of `sft.py` (and shared with `dpo.py`) so the scripts stay a list of steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from peft import LoraConfig
from transformers import PreTrainedModel, ProcessorMixin
from trl import ModelConfig, get_peft_config

from edit_handbook.models import load_vlm, tiny_qwen3_vl
from edit_handbook.models.small_tokenizer import small_tokenizer_path


# The learning fixture's model: tiny Qwen3-VL with the small synthetic-vocabulary tokenizer. Named so a recipe
# YAML can ask for it; it is built (and cached) on first use, since no such checkpoint exists on the Hub.
SMOKE_MODEL = "tiny-qwen3-vl-synthetic"
SMOKE_MODEL_KWARGS = {"hidden_size": 128, "num_hidden_layers": 2, "vision_hidden_size": 64, "vision_depth": 2}
# Pixel normalisation of the smoke model's processor: centred on the synthetic scenes' background colour, with a
# small spread. Synthetic pairs are small shapes on one flat background, so with the usual mean/std of 0.5 two
# images differ by a few percent of their pixel values: the tiny random model then learns the 32 answers as a
# set and ignores the images (stuck at 3% after 6,000 steps). Centred this way the background is ~0 and the
# shapes are large inputs: the model uses the images within a few hundred steps (measured: 100% after 300).
SMOKE_IMAGE_STD = 0.25
# The captioner that sees (recipes/editcaption/tiny-see): 128 px images in 16 px patches, so each image is 16 merged
# tokens and a shape is one or a few of them; a vision tower as wide as the language model; RoPE base 1e4 (see
# `models.tiny.TINY_ROPE_THETA`). Why each choice, with the measurements: recipes/editcaption/tiny-see/README.md.
SEE_MODEL = "tiny-qwen3-vl-see"
SEE_IMAGE_SIZE = 128
SEE_MODEL_KWARGS = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "vision_hidden_size": 128,
    "vision_depth": 2,
    "patch_size": 16,
    "min_pixels": SEE_IMAGE_SIZE * SEE_IMAGE_SIZE,
    "max_pixels": SEE_IMAGE_SIZE * SEE_IMAGE_SIZE,
}
_SMOKE_BUILDER_VERSION = 1


def _synthetic_model(kwargs: dict, name: str) -> Path:
    """A tiny Qwen3-VL + small tokenizer, its processor normalising pixels around the synthetic background."""
    from transformers import AutoProcessor

    from edit_handbook.data.synthetic.scene import BACKGROUND
    from edit_handbook.models.cache import cached_build

    base = tiny_qwen3_vl(small_tokenizer_path(), **kwargs)
    mean = [round(channel / 255, 4) for channel in BACKGROUND]
    std = [SMOKE_IMAGE_STD] * 3

    def build(folder: Path) -> None:
        import shutil

        shutil.copytree(base, folder, dirs_exist_ok=True)
        processor = AutoProcessor.from_pretrained(base)
        processor.image_processor.image_mean, processor.image_processor.image_std = mean, std
        processor.save_pretrained(folder)

    payload = {"base": str(base), "image_mean": mean, "image_std": std, "builder_version": _SMOKE_BUILDER_VERSION}
    return cached_build(f"models/{name}", payload, build)


def _smoke_model() -> Path:
    return _synthetic_model(SMOKE_MODEL_KWARGS, "qwen3-vl-smoke")


def _see_model() -> Path:
    return _synthetic_model(SEE_MODEL_KWARGS, "qwen3-vl-see")


TINY_MODELS: dict[str, Callable[[], Path]] = {SMOKE_MODEL: _smoke_model, SEE_MODEL: _see_model}
# Where the vision encoder lives in the image-text-to-text models we support (Qwen2.5-VL/Qwen3-VL: `visual`).
VISION_TOWER_NAMES = ("visual", "vision_tower", "vision_model")


def resolve_model_path(name_or_path: str) -> str:
    """A local folder or Hub id unchanged; a `TINY_MODELS` name built on first use and replaced by its folder."""
    if name_or_path in TINY_MODELS and not os.path.exists(name_or_path):
        return str(TINY_MODELS[name_or_path]())
    return name_or_path


def _dtype(name: str | None) -> str | torch.dtype:
    return name if name in (None, "auto") else getattr(torch, name)


def vision_tower(model: PreTrainedModel) -> torch.nn.Module:
    inner = getattr(model, "model", model)
    for name in VISION_TOWER_NAMES:
        if hasattr(inner, name):
            return getattr(inner, name)
    raise ValueError(
        f"cannot find the vision tower of {type(model).__name__} (looked for {', '.join(VISION_TOWER_NAMES)}); "
        "set freeze_vision_tower: false or add its attribute name to VISION_TOWER_NAMES"
    )


def load_captioner(
    model_args: ModelConfig,
    *,
    min_pixels: int | None,
    max_pixels: int | None,
    freeze_vision_tower: bool,
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Model + processor for training; the vision tower's weights are frozen when asked (full FT or LoRA)."""
    model, processor = load_vlm(
        resolve_model_path(model_args.model_name_or_path),
        dtype=_dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
        trust_remote_code=trust_remote_code,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    if freeze_vision_tower:
        vision_tower(model).requires_grad_(False)
    return model, processor


def captioner_peft_config(model_args: ModelConfig, *, freeze_vision_tower: bool) -> LoraConfig | None:
    """TRL's LoRA config from ModelConfig; a frozen vision tower gets no adapters.

    MoE experts are fused 3-D parameters in transformers 5 (no `nn.Linear` per expert), so LoRA reaches them
    through `lora_target_parameters` (e.g. `mlp.experts.gate_up_proj`), not `lora_target_modules`.
    """
    config = get_peft_config(model_args)
    if config is not None and freeze_vision_tower:
        config.exclude_modules = rf".*\.({'|'.join(VISION_TOWER_NAMES)})\..*"
    return config
