"""Batched image and text embeddings from CLIP and DINOv2, the model calls around `functions`.

Any checkpoint with the same interface works (model ids are configuration): CLIP-like models through
`get_image_features` / `get_text_features`, DINO-like ones through the pooled (CLS) output of `AutoModel`.
Loaded encoders are kept per (model, device), so the metrics of one run share one copy of each model.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image


DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
DEFAULT_DINO_MODEL = "facebook/dinov2-base"


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _pooled(output) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output is the projected embedding; older a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _batched(encode, inputs: Sequence, batch_size: int) -> np.ndarray:
    """`encode` applied to `batch_size` inputs at a time, concatenated into one float32 (N, D) array."""
    with torch.inference_mode():
        chunks = [encode(list(inputs[start : start + batch_size])) for start in range(0, len(inputs), batch_size)]
    return torch.cat(chunks).float().cpu().numpy() if chunks else np.zeros((0, 0), np.float32)


class _ImageEncoder:
    def __init__(self, model_id: str, device: str | None, batch_size: int, processor_class) -> None:
        from transformers import AutoModel

        self.model_id, self.batch_size = model_id, batch_size
        self.device = device or default_device()
        self.model = AutoModel.from_pretrained(model_id).to(self.device).eval()
        self.processor = processor_class.from_pretrained(model_id)

    def _pixels(self, images: list[Image.Image]):
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        return self.processor(images=rgb, return_tensors="pt").to(self.device)


class ClipEncoder(_ImageEncoder):
    """CLIP image and text embeddings (projected, not normalised), `batch_size` inputs per forward pass."""

    def __init__(self, model_id: str = DEFAULT_CLIP_MODEL, *, device: str | None = None, batch_size: int = 32):
        from transformers import AutoProcessor

        super().__init__(model_id, device, batch_size, AutoProcessor)
        self.max_length = self.model.config.text_config.max_position_embeddings

    def images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return _batched(
            lambda batch: _pooled(self.model.get_image_features(**self._pixels(batch))), images, self.batch_size
        )

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """Text embeddings; text beyond CLIP's context (77 tokens) is cut, as a CLIP text encoder must."""

        def encode(batch: list[str]) -> torch.Tensor:
            inputs = self.processor(
                text=batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            return _pooled(self.model.get_text_features(**inputs.to(self.device)))

        return _batched(encode, texts, self.batch_size)


class DinoEncoder(_ImageEncoder):
    """DINOv2 image embeddings: the pooled output (layer-normed CLS token), as DINO similarity uses it."""

    def __init__(self, model_id: str = DEFAULT_DINO_MODEL, *, device: str | None = None, batch_size: int = 32):
        from transformers import AutoImageProcessor

        super().__init__(model_id, device, batch_size, AutoImageProcessor)

    def images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return _batched(lambda batch: self.model(**self._pixels(batch)).pooler_output, images, self.batch_size)


@lru_cache(maxsize=4)
def clip_encoder(model_id: str, device: str | None = None, batch_size: int = 32) -> ClipEncoder:
    return ClipEncoder(model_id, device=device, batch_size=batch_size)


@lru_cache(maxsize=4)
def dino_encoder(model_id: str, device: str | None = None, batch_size: int = 32) -> DinoEncoder:
    return DinoEncoder(model_id, device=device, batch_size=batch_size)
