"""Load the editor to fine-tune, with the frozen encoders kept out of DeepSpeed ZeRO-3 partitioning.

Under ZeRO-3 with `zero3_init_flag`, transformers builds every model inside `deepspeed.zero.Init`,
which shards its parameters across ranks. Only the UNet goes through `accelerator.prepare` (which shards
it); a sharded VAE or text encoder would never be gathered and would fail in its first forward. So the
whole pipeline is loaded outside zero.Init (`distributed.outside_zero3_init`).
"""

from __future__ import annotations

from diffusers import StableDiffusionInstructPix2PixPipeline

from ..distributed import outside_zero3_init
from ..models import load_instruct_pix2pix
from ..models.registry import resolve_model


def load_editor(name_or_path: str, *, from_sd15: bool = False) -> StableDiffusionInstructPix2PixPipeline:
    """The fp32 pipeline to start from (its UNet trains; VAE and text encoder stay frozen)."""
    with outside_zero3_init():
        return load_instruct_pix2pix(resolve_model(name_or_path), from_sd15=from_sd15)
