"""One SuperEdit training step on encoded inputs: noise, dropout, one batched UNet call, loss.

The step only sees latent distributions and text embeddings, so a cached run and a run that encodes
every step execute the same code and, given the same generator, draw the same random numbers in the
same order: target latent, noise, timesteps, dropout draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from .losses import SuperEditLoss, conditioning_dropout_masks, superedit_loss


@dataclass
class EncodedBatch:
    """A batch after the frozen encoders (or the caches).

    source_latents: unscaled `latent_dist.mode()` of the source image, [B, 4, h, w].
    target_moments: mean and log-variance of the target's latent distribution on dim 1, [B, 8, h, w].
    positive_embeds / negative_embeds: CLIP hidden states of the instruction and one wrong instruction
        (None while the triplet term is off).
    null_embeds: the empty prompt's hidden states, [1, 77, D], used where the text is dropped.
    """

    source_latents: torch.Tensor
    target_moments: torch.Tensor
    positive_embeds: torch.Tensor
    negative_embeds: torch.Tensor | None
    null_embeds: torch.Tensor


def predict_noise(
    unet: UNet2DConditionModel,
    noisy_latents: torch.Tensor,
    source_latents: torch.Tensor,
    timesteps: torch.Tensor,
    positive_embeds: torch.Tensor,
    negative_embeds: torch.Tensor | None = None,
    negative_rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """UNet predictions for the positive and (optionally) negative prompt from ONE call.

    Both branches share the noisy latent, the timestep and the source latent, so they differ only in the
    text; one call of B + K rows keeps the GPU busier than two calls and launches half the kernels.
    `negative_rows` (bool, [B]) limits the negative branch to those examples (K of them; default all):
    the step passes the text-kept mask, since a negative for a dropped text is never used by the loss.
    The negative prediction has one row per selected example, in batch order.
    """
    model_input = torch.cat([noisy_latents, source_latents], dim=1)
    if negative_embeds is None:
        return unet(model_input, timesteps, positive_embeds, return_dict=False)[0], None
    if negative_rows is None:
        negative_input, negative_timesteps = model_input, timesteps
    else:
        negative_input, negative_timesteps = model_input[negative_rows], timesteps[negative_rows]
        negative_embeds = negative_embeds[negative_rows]
    size = model_input.shape[0]
    prediction = unet(
        torch.cat([model_input, negative_input]),
        torch.cat([timesteps, negative_timesteps]),
        torch.cat([positive_embeds, negative_embeds]),
        return_dict=False,
    )[0]
    return prediction[:size], prediction[size:]


def diffusion_target(scheduler: DDPMScheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor):
    """What the UNet regresses: the noise (epsilon), the velocity (v_prediction) or the clean latent (sample)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    if kind == "sample":  # the tutorial editor's choice: an edit is nearly deterministic (superedit/tutorial.py)
        return latents
    raise ValueError(
        f"unsupported prediction_type {kind!r} in the noise scheduler; use epsilon, v_prediction or sample"
    )


def superedit_step(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    batch: EncodedBatch,
    *,
    generator: torch.Generator,
    scaling_factor: float,
    dropout_probability: float,
    triplet_on: bool,
    margin: float,
    weight: float,
) -> SuperEditLoss:
    """The loss of docs/method.md for one batch; the negative branch runs only when `triplet_on`."""
    target_distribution = DiagonalGaussianDistribution(batch.target_moments)
    latents = target_distribution.sample(generator) * scaling_factor
    noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    size = latents.shape[0]
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (size,), generator=generator, device=latents.device
    )
    noisy_latents = scheduler.add_noise(latents, noise, timesteps)
    uniform = torch.rand(size, generator=generator, device=latents.device)
    text_kept, image_kept = conditioning_dropout_masks(uniform, dropout_probability)

    null = batch.null_embeds.to(batch.positive_embeds.dtype)
    positive = torch.where(text_kept[:, None, None], batch.positive_embeds, null)
    source = batch.source_latents * image_kept[:, None, None, None].to(batch.source_latents.dtype)

    # The official code turns the negative of a dropped text into the null text and masks its hinge out
    # of the loss; leaving those rows out of the UNet call computes the same loss with less work.
    positive_prediction, negative_prediction = predict_noise(
        unet,
        noisy_latents,
        source.to(noisy_latents.dtype),
        timesteps,
        positive,
        batch.negative_embeds if triplet_on else None,
        negative_rows=text_kept,
    )
    target = diffusion_target(scheduler, latents, noise, timesteps)
    return superedit_loss(positive_prediction, target, negative_prediction, text_kept, margin=margin, weight=weight)
