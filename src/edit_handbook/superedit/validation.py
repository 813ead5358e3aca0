"""What the trainer shows while it runs: edit grids and the held-out gap d_neg - d_pos.

The gap uses fixed noise, timesteps and every negative of every pair, without dropout, so values from
different steps (and from a triplet-off control run with the same seed) are directly comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DDPMScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from PIL import Image

from .encoders import FrozenEncoders
from .losses import per_sample_mse
from .step import diffusion_target, predict_noise


GAP_DRAWS = 4  # noise/timestep draws per (pair, negative)


@torch.no_grad()
def heldout_gap(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    encoders: FrozenEncoders,
    items: Sequence[dict[str, torch.Tensor]],
    negatives: Sequence[np.ndarray],
    *,
    scaling_factor: float,
    seed: int,
    batch_size: int,
) -> dict[str, float]:
    """Mean d_pos, d_neg and d_neg - d_pos over (pair, negative, draw), with a fixed generator."""
    jobs = [(item, int(negative)) for item, wrong in zip(items, negatives) for negative in wrong] * GAP_DRAWS
    generator = torch.Generator(encoders.device).manual_seed(seed)
    d_pos, d_neg = [], []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        batch = {key: torch.stack([item[key] for item, _ in chunk]) for key in chunk[0][0] if key != "negative_text"}
        batch["negative_text"] = torch.tensor([negative for _, negative in chunk])
        encoded = encoders.encode(batch)
        latents = DiagonalGaussianDistribution(encoded.target_moments).sample(generator) * scaling_factor
        noise = torch.randn(latents.shape, generator=generator, device=latents.device)
        timesteps = torch.randint(
            0, scheduler.config.num_train_timesteps, (len(chunk),), generator=generator, device=latents.device
        )
        noisy = scheduler.add_noise(latents, noise, timesteps)
        positive, negative = predict_noise(
            unet, noisy, encoded.source_latents, timesteps, encoded.positive_embeds, encoded.negative_embeds
        )
        target = diffusion_target(scheduler, latents, noise, timesteps)
        d_pos.append(per_sample_mse(positive, target))
        d_neg.append(per_sample_mse(negative, target))
    pos, neg = torch.cat(d_pos), torch.cat(d_neg)
    return {"d_pos": pos.mean().item(), "d_neg": neg.mean().item(), "d_neg_minus_d_pos": (neg - pos).mean().item()}


def edit_grid(
    pipeline: StableDiffusionInstructPix2PixPipeline,
    sources: Sequence[Image.Image],
    positives: Sequence[str],
    negatives: Sequence[str],
    *,
    resolution: int,
    num_inference_steps: int,
    guidance_scale: float,
    image_guidance_scale: float,
    seed: int,
) -> Image.Image:
    """One row per pair: source | edit with the instruction | edit with a wrong instruction."""
    tiles = []
    for source, positive, negative in zip(sources, positives, negatives):
        source = source.convert("RGB").resize((resolution, resolution), Image.Resampling.BICUBIC)
        row = [source]
        for prompt in (positive, negative):
            generator = torch.Generator(pipeline.device).manual_seed(seed)
            edited = pipeline(
                prompt,
                image=source,
                num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale,
                image_guidance_scale=image_guidance_scale,
                generator=generator,
            ).images[0]
            row.append(edited.resize((resolution, resolution)))
        tiles.append(row)
    grid = Image.new("RGB", (3 * resolution, len(tiles) * resolution))
    for y, row in enumerate(tiles):
        for x, tile in enumerate(row):
            grid.paste(tile, (x * resolution, y * resolution))
    return grid
