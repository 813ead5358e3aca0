"""The synthetic-world models: tiny Qwen3-VLs with a small tokenizer trained on the synthetic world's texts.

`tiny-qwen3-vl-synthetic` (the smoke model; the smoke SFT recipe trains it into the smoke captioner) and
`tiny-qwen3-vl-see` (the captioner that sees, recipes/editcaption/tiny-see) are named in the models registry so
a recipe YAML can ask for them; each is built (and cached) on first use, since no such checkpoint is on the Hub.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from edit_handbook.data.synthetic.edits import EDIT_TYPES, sample_edit
from edit_handbook.data.synthetic.language import (
    flawed_instructions,
    negative_instructions,
    rectified_description,
    reference_instruction,
    scene_description,
)
from edit_handbook.data.synthetic.scene import BACKGROUND
from edit_handbook.editcaption.prompts import prompt_texts
from edit_handbook.models import tiny_qwen3_vl
from edit_handbook.models.cache import cached_build
from edit_handbook.models.registry import register_tiny_model
from edit_handbook.models.small_tokenizer import small_tokenizer_path


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

_CORPUS_EDITS = 3000
# The fixed texts every example repeats (chat roles, prompts) weigh as much as the synthetic sentences, so
# BPE merges them into whole words too: shorter sequences for the fixture to attend over.
_FIXED_TEXT_WEIGHT = 200
_CHAT_ROLES = ("system", "user", "assistant")


def synthetic_corpus(num_edits: int = _CORPUS_EDITS, seed: int = 0) -> list[str]:
    """Every kind of text the synthetic pipeline produces (no images are rendered), plus the prompt texts."""
    rng = random.Random(f"small-tokenizer:{seed}")
    lines = [*prompt_texts(), *_CHAT_ROLES] * _FIXED_TEXT_WEIGHT
    for index in range(num_edits):
        source, target, spec = sample_edit(rng, EDIT_TYPES[index % len(EDIT_TYPES)])
        lines += [reference_instruction(spec), rectified_description(spec)]
        lines += [scene_description(source), scene_description(target)]
        lines += [text for text, _ in negative_instructions(spec, rng)]
        lines += [text for text, _, _ in flawed_instructions(spec, rng)]
    return lines


def smoke_tokenizer_path(cache_dir: str | Path | None = None) -> Path:
    """The small tokenizer trained on `synthetic_corpus()`, built once and cached."""
    return small_tokenizer_path(synthetic_corpus(), cache_dir=cache_dir)


def _synthetic_model(kwargs: dict, name: str) -> Path:
    """A tiny Qwen3-VL + small tokenizer, its processor normalising pixels around the synthetic background."""
    from transformers import AutoProcessor

    base = tiny_qwen3_vl(smoke_tokenizer_path(), **kwargs)
    mean = [round(channel / 255, 4) for channel in BACKGROUND]
    std = [SMOKE_IMAGE_STD] * 3

    def build(folder: Path) -> None:
        shutil.copytree(base, folder, dirs_exist_ok=True)
        processor = AutoProcessor.from_pretrained(base)
        processor.image_processor.image_mean, processor.image_processor.image_std = mean, std
        processor.save_pretrained(folder)

    payload = {"base": str(base), "image_mean": mean, "image_std": std, "builder_version": _SMOKE_BUILDER_VERSION}
    return cached_build(f"models/{name}", payload, build)


def smoke_model() -> Path:
    return _synthetic_model(SMOKE_MODEL_KWARGS, "qwen3-vl-smoke")


def see_model() -> Path:
    return _synthetic_model(SEE_MODEL_KWARGS, "qwen3-vl-see")


register_tiny_model(SMOKE_MODEL, smoke_model)
register_tiny_model(SEE_MODEL, see_model)
