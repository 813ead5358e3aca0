"""SuperEdit's objective as pure functions of tensors (docs/method.md, section 2).

    d_pos_i = mean_{C,H,W} (e_pos_i - eps_i)^2          d_neg_i likewise
    h_i     = max(0, d_pos_i - d_neg_i + m)
    L       = MSE(e_pos, eps) + lambda * sum_i(mask_i * h_i) / (sum_i(mask_i) + 1e-8)

`mask_i` is 0 where InstructPix2Pix conditioning dropout removed the text: a triplet between two
null prompts means nothing. The term is switched on at a global optimisation step, not a per-epoch
step index (the released code compares the latter, so as released the term never switches on).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


MASK_EPSILON = 1e-8


def per_sample_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every axis but the batch axis, in fp32 (shape [B])."""
    return (prediction.float() - target.float()).pow(2).flatten(1).mean(dim=1)


def triplet_hinge(d_pos: torch.Tensor, d_neg: torch.Tensor, margin: float) -> torch.Tensor:
    """h_i = max(0, d_pos_i - d_neg_i + margin): zero once the negative is worse by at least the margin."""
    return torch.clamp(d_pos - d_neg + margin, min=0.0)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum(mask * values) / (sum(mask) + 1e-8): zero, not NaN, when every text was dropped."""
    mask = mask.to(values.dtype)
    return (mask * values).sum() / (mask.sum() + MASK_EPSILON)


def triplet_is_active(global_step: int, start_step: int) -> bool:
    """True from the `start_step`-th completed optimisation step on (0-based: step `start_step` is the first on)."""
    return global_step >= start_step


def conditioning_dropout_masks(uniform: torch.Tensor, probability: float) -> tuple[torch.Tensor, torch.Tensor]:
    """InstructPix2Pix conditioning dropout from one uniform draw per example: (text_kept, image_kept).

    With p = `probability`: the text is dropped where r < 2p and the source image where p <= r < 3p,
    so each is dropped with probability 2p and both together (p <= r < 2p) with probability p.
    """
    if not 0.0 <= probability <= 1.0 / 3.0:
        raise ValueError(f"conditioning dropout probability must be in [0, 1/3], got {probability}")
    text_kept = uniform >= 2 * probability
    image_kept = (uniform < probability) | (uniform >= 3 * probability)
    return text_kept, image_kept


@dataclass
class SuperEditLoss:
    """The loss and what to log about it (detached except `loss`)."""

    loss: torch.Tensor
    noise_mse: torch.Tensor
    triplet: torch.Tensor
    active_hinge_fraction: torch.Tensor
    gap: torch.Tensor  # mean over text-kept examples of d_neg - d_pos

    def metrics_tensors(self) -> dict[str, torch.Tensor]:
        """Detached 0-d tensors: summed on the device, read (one sync) only when logged."""
        return {
            "loss": self.loss.detach(),
            "noise_mse": self.noise_mse,
            "triplet_loss": self.triplet,
            "active_hinge_fraction": self.active_hinge_fraction,
            "d_neg_minus_d_pos": self.gap,
        }


def superedit_loss(
    positive_prediction: torch.Tensor,
    target: torch.Tensor,
    negative_prediction: torch.Tensor | None,
    text_kept: torch.Tensor,
    *,
    margin: float,
    weight: float,
) -> SuperEditLoss:
    """L = MSE(e_pos, eps) + weight * masked mean of the hinge; without a negative prediction, plain MSE.

    `target` is the noise (or velocity, for v-prediction schedulers); `text_kept` is the mask.
    `negative_prediction` has either one row per example ([B, ...], rows where the text was dropped are
    masked out) or one row per text-kept example only ([K, ...], in batch order, as the step computes it);
    both give the same loss.
    """
    d_pos = per_sample_mse(positive_prediction, target)
    noise_mse = d_pos.mean()
    zero = torch.zeros((), device=d_pos.device)
    if negative_prediction is None:
        return SuperEditLoss(noise_mse, noise_mse.detach(), zero, zero, zero)
    mask = text_kept
    if negative_prediction.shape[0] != d_pos.shape[0]:  # the text-kept rows only
        rows = text_kept.nonzero().squeeze(1)
        if negative_prediction.shape[0] != rows.numel():
            raise ValueError(
                f"negative_prediction has {negative_prediction.shape[0]} rows; expected {d_pos.shape[0]} (one per "
                f"example) or {rows.numel()} (one per text-kept example)"
            )
        d_pos, target, mask = d_pos[rows], target[rows], text_kept[rows]
    d_neg = per_sample_mse(negative_prediction, target)
    hinge = triplet_hinge(d_pos, d_neg, margin)
    triplet = masked_mean(hinge, mask)
    with torch.no_grad():
        active = masked_mean((hinge > 0).float(), mask)
        gap = masked_mean(d_neg - d_pos, mask)
    return SuperEditLoss(noise_mse + weight * triplet, noise_mse.detach(), triplet.detach(), active, gap)
