"""Turn a dataloader batch into `EncodedBatch`: from the caches when built, else through the frozen models."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import AutoencoderKL
from transformers import CLIPTextModel, PreTrainedTokenizerBase

from .caches import embed_prompts, encode_pairs
from .data import TextTable
from .step import EncodedBatch


class FrozenEncoders:
    """The frozen VAE and text encoder, or their cached outputs, behind one `encode(batch)` call.

    Args:
        table: every prompt the rows refer to (index 0 is the empty prompt).
        text_embeddings: the memory-mapped text cache, or None to run the text encoder every step.
        dtype: dtype of the returned latents and embeddings (the mixed-precision compute dtype for
            embeddings; latent moments stay fp32 so that sampling matches the uncached path exactly).
    """

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: PreTrainedTokenizerBase,
        table: TextTable,
        *,
        device: torch.device,
        dtype: torch.dtype,
        text_embeddings: np.ndarray | None = None,
    ) -> None:
        self.vae = vae
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.table = table
        self.device = device
        self.dtype = dtype
        self.text_embeddings = text_embeddings
        self.null_embeds = self.embed(torch.zeros(1, dtype=torch.long))

    def embed(self, text_indices: torch.Tensor) -> torch.Tensor:
        """Hidden states of the prompts with these table indices, [B, 77, D]."""
        indices = text_indices.cpu().numpy()
        if self.text_embeddings is not None:
            vectors = torch.from_numpy(np.asarray(self.text_embeddings[indices]))
        else:
            vectors = embed_prompts([self.table.texts[index] for index in indices], self.tokenizer, self.text_encoder)
        return vectors.to(self.device, self.dtype)

    def encode(self, batch: dict[str, torch.Tensor], *, with_negative: bool = True) -> EncodedBatch:
        """Latents and embeddings of a batch; the negative is skipped while the triplet term is off."""
        if "source_latents" in batch:
            source_latents, target_moments = batch["source_latents"], batch["target_moments"]
        else:
            source_latents, target_moments = encode_pairs(self.vae, batch["source_pixels"], batch["target_pixels"])
        return EncodedBatch(
            source_latents=source_latents.to(self.device, torch.float32),
            target_moments=target_moments.to(self.device, torch.float32),
            positive_embeds=self.embed(batch["positive_text"]),
            negative_embeds=self.embed(batch["negative_text"]) if with_negative else None,
            null_embeds=self.null_embeds,
        )
