"""Hub options the training scripts share.

Parsed by `trl.TrlParser` from a recipe YAML plus CLI flags; every field's `help` is its CLI documentation.
Field names must not clash with the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckpointRevisionArguments:
    """Push each saved checkpoint to its own Hub branch while training (open-r1's revision pushes); mixed into
    the SFT, DPO and SuperEdit training arguments."""

    push_checkpoint_revisions: bool = field(
        default=False,
        metadata={
            "help": "Upload every saved checkpoint (weights, config, processor, a card; no optimizer states; for "
            "SuperEdit the checkpoint's editing pipeline) to branch '<hub_revision or main>-step-<global_step:09d>' "
            "of hub_model_id, in the background. Needs hub_model_id (and, for SFT/DPO, save_total_limit != 1)."
        },
    )
