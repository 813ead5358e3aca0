"""Tiny random CLIP and DINOv2 checkpoints, so the metrics run offline (tests, the CPU demo).

No CLIP or DINO weights are on any package registry (docs/environment.md); these exercise the real loading and
preprocessing paths (`AutoModel`, `AutoProcessor`, the real CLIP tokenizer). Their numbers mean nothing.
Cached like the other tiny models (`models.cache`), keyed by the library versions and the seed.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers

from edit_handbook.models.cache import cached_build
from edit_handbook.models.tokenizers import clip_tokenizer_path


IMAGE_SIZE = 32


def _seeded(build, seed: int):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def tiny_clip(*, seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """A `CLIPModel` (2-layer 32-wide towers, 32 px images) with the real CLIP tokenizer and a `CLIPProcessor`."""
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    def build(folder: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(clip_tokenizer_path(cache_dir))
        tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
        config = CLIPConfig(
            text_config={**tower, "vocab_size": len(tokenizer), "max_position_embeddings": 77},
            vision_config={**tower, "image_size": IMAGE_SIZE, "patch_size": 8},
            projection_dim=16,
        )
        _seeded(lambda: CLIPModel(config), seed).save_pretrained(folder)
        size = {"shortest_edge": IMAGE_SIZE}
        crop = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
        CLIPProcessor(CLIPImageProcessor(size=size, crop_size=crop), tokenizer).save_pretrained(folder)

    payload = {"transformers": transformers.__version__, "seed": seed, "image_size": IMAGE_SIZE}
    return cached_build("models/tiny-clip", payload, build, cache_dir)


def tiny_dinov2(*, seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """A `Dinov2Model` (2 layers, 32 wide, 32 px images) with its image processor."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    def build(folder: Path) -> None:
        config = Dinov2Config(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            mlp_ratio=2,
            image_size=IMAGE_SIZE,
            patch_size=8,
        )
        _seeded(lambda: Dinov2Model(config), seed).save_pretrained(folder)
        size = {"shortest_edge": IMAGE_SIZE}
        crop = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
        BitImageProcessor(
            size=size,
            crop_size=crop,
            do_center_crop=True,
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
            do_convert_rgb=True,
        ).save_pretrained(folder)

    payload = {"transformers": transformers.__version__, "seed": seed, "image_size": IMAGE_SIZE}
    return cached_build("models/tiny-dinov2", payload, build, cache_dir)
