"""SuperEdit (arXiv 2505.02370): InstructPix2Pix fine-tuning with rectified instructions and a triplet loss.

The training loop lives in `edit_handbook.superedit.trainer` (imported on demand: it pulls in accelerate and TRL).
"""

from edit_handbook.superedit.losses import (
    SuperEditLoss,
    conditioning_dropout_masks,
    masked_mean,
    per_sample_mse,
    superedit_loss,
    triplet_hinge,
    triplet_is_active,
)
from edit_handbook.superedit.model import load_editor
from edit_handbook.superedit.step import EncodedBatch, predict_noise, superedit_step


__all__ = [
    "EncodedBatch",
    "SuperEditLoss",
    "conditioning_dropout_masks",
    "load_editor",
    "masked_mean",
    "per_sample_mse",
    "predict_noise",
    "superedit_loss",
    "superedit_step",
    "triplet_hinge",
    "triplet_is_active",
]
