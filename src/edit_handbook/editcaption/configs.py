"""EditCaption's settings: what SFT and HAE-DPO share, the HAE margin, sampler and reference pass.

Parsed by `trl.TrlParser` from a recipe YAML plus CLI flags; every field's `help` is its CLI documentation.
Field names must not clash with the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from ..data.configs import DataArguments
from ..hub.configs import CheckpointRevisionArguments


@dataclass
class CaptionerScriptArguments(DataArguments, CheckpointRevisionArguments):
    """What both EditCaption stages (`sft.py`, `dpo.py`) share: synthetic data, held-out split, image size
    bounds, the vision tower, checker-driven stopping and the dry run."""

    dataset_eval_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Hold out this fraction of the training rows for evaluation (seeded by dataset_seed; DPO holds "
            "out source pairs with all their rejected answers). 0: evaluate on dataset_test_split when eval_strategy "
            "is not 'no'."
        },
    )
    min_pixels: int | None = field(
        default=None, metadata={"help": "Smallest image area the processor resizes to (bounds image tokens)."}
    )
    max_pixels: int | None = field(
        default=None,
        metadata={
            "help": "Largest image area the processor resizes to. With max_length null this is what bounds the "
            "sequence length: image tokens are never truncated."
        },
    )
    freeze_vision_tower: bool = field(
        default=False,
        metadata={
            "help": "Train only the language side: the vision tower, its patch merger and deepstack mergers "
            "included, keeps its weights; with LoRA, no adapters in the vision tower."
        },
    )
    stop_at_checker_accuracy: float | None = field(
        default=None,
        metadata={
            "help": "Synthetic data only: every checker_eval_steps, caption checker pairs greedily (fresh pairs of "
            "checker_eval_seed, or the training pairs if that is unset) and stop once the exact checker accepts "
            "this share of them. Unset: the accuracy is still logged when checker_eval_seed is set."
        },
    )
    checker_eval_steps: int = field(default=250, metadata={"help": "Steps between checker evaluations."})
    checker_eval_seed: int | None = field(
        default=None,
        metadata={
            "help": "Generator seed of fresh validation pairs (same edit types and image size as the training data) "
            "for the checker evaluations: held-out accuracy per failure mode is logged, and stopping uses it. Use a "
            "seed reserved for validation, never the test seed or dataset_seed."
        },
    )
    checker_eval_pairs: int = field(default=96, metadata={"help": "Number of validation pairs (checker_eval_seed)."})
    dataset_shuffle_images: bool = field(
        default=False,
        metadata={
            "help": "Blind control: give every row the images of another row (a seeded permutation), so the model can "
            "learn only the text. A recipe must beat its blind control on fresh pairs to show that it sees."
        },
    )
    dry_run: bool = field(
        default=False,
        metadata={
            "help": "Build the model on the meta device, collate one real batch and print a parameter and memory "
            "estimate per GPU for accelerate_config (the policy only, for DPO), then exit without training."
        },
    )
    accelerate_config: str | None = field(
        default=None,
        metadata={"help": "accelerate config the dry run sizes memory for (ZeRO stage, processes, machines)."},
    )
    model_config_overrides: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Config values for the dry run's meta-device model when the real config.json cannot be read "
            '(offline); nested as in config.json, e.g. \'{"text_config": {"num_hidden_layers": 36}}\'.'
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.model_config_overrides, str):
            self.model_config_overrides = json.loads(self.model_config_overrides)


@dataclass
class SFTScriptArguments(CaptionerScriptArguments):
    """What `sft.py` trains on, beside TRL's SFTConfig and ModelConfig."""

    tasks: list[str] = field(
        default_factory=lambda: ["caption"],
        metadata={
            "help": "'caption' (one imperative instruction, EditCaption), 'rectify' (SuperEdit's four-aspect "
            "description, <= 77 CLIP tokens), or both: each pair then gives one example per task, mixed in one run."
        },
    )
    max_rectify_clip_tokens: int = field(
        default=77, metadata={"help": "Longest 'rectify' answer in CLIP tokens (SuperEdit: CLIP's 77)."}
    )
    vision_tower_lr_scale: float = field(
        default=1.0,
        metadata={
            "help": "The vision tower (with its mergers) trains at learning_rate times this, the rest at "
            "learning_rate: below 1 it keeps more of what a pretrained tower encodes (for 0 use freeze_vision_tower)."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.vision_tower_lr_scale <= 1:
            raise ValueError(
                f"vision_tower_lr_scale {self.vision_tower_lr_scale}: give a value in (0, 1], "
                "or freeze_vision_tower: true to keep the tower fixed"
            )
        if self.freeze_vision_tower and self.vision_tower_lr_scale != 1:
            raise ValueError("vision_tower_lr_scale has no effect with freeze_vision_tower: true; drop one of them")


# EditCaption stage 2, HAE-DPO (docs/method.md section 1). The paper's formula and constants are not public: every
# default below is ours, not the paper's. Parsed with DPOConfig and ModelConfig by `dpo.py`.


def _json_mapping(value: dict | str) -> dict:
    return json.loads(value) if isinstance(value, str) else dict(value)


@dataclass
class DPOScriptArguments(CaptionerScriptArguments):
    """What `dpo.py` trains on, beside TRL's DPOConfig and ModelConfig."""

    dataset_kind: Literal["edit", "preference"] = field(
        default="preference", metadata={"help": "DPO reads preference rows (chosen/rejected + error labels)."}
    )
    base_model: str | None = field(
        default=None,
        metadata={
            "help": "Hub id the SFT checkpoint was fine-tuned from: the model card's base model, and the "
            "architecture the dry run sizes before the SFT checkpoint exists."
        },
    )
    prefix_sharing: bool | None = field(
        default=None,
        metadata={
            "help": "Run each pair's prompt (both images, vision tower included) once for its chosen and rejected "
            "answers, in training and in the reference pass (docs/prefix_sharing.md). null: on where supported "
            "(Qwen3-VL or Qwen2.5-VL, sdpa or eager attention; no MoE, padding_free or torch_compile); true: on, "
            "refusing at "
            "start what cannot work with it; false: TRL's unshared forward."
        },
    )


@dataclass
class HAEMarginArguments:
    """The adaptive margin m_i = gamma * s(severity) * w(type) * g(hardness), g(h) = 1 + alpha * (2h - 1)."""

    margin_gamma: float = field(
        default=1.0,
        metadata={"help": "gamma, scale of the margin in logit units (ours, not the paper's). 0: plain DPO."},
    )
    margin_alpha: float = field(
        default=0.5,
        metadata={
            "help": "alpha in [0, 1]: how much reference hardness scales the margin, g in [1 - alpha, 1 + alpha] "
            "(ours, not the paper's)."
        },
    )
    margin_severity_weights: dict[str, float] | str = field(
        default_factory=lambda: {"minor": 0.5, "major": 1.0, "critical": 1.5},
        metadata={"help": "s(severity) for minor, major, critical (docs/method.md's values; ours, not the paper's)."},
    )
    margin_error_type_weights: dict[str, float] | str = field(
        default_factory=lambda: {"orientation": 1.0, "viewpoint": 1.0, "attribute": 1.0, "other": 0.5},
        metadata={
            "help": "w(type) for orientation, viewpoint, attribute, other (ours, not the paper's): EditCaption's "
            "three failure modes weigh fully, the catch-all half."
        },
    )
    rpo_alpha: float | None = field(
        default=None,
        metadata={
            "help": "Weight of an NLL term on the chosen answer (RPO; TRL's `rpo_alpha`, here TRL's 'sft' loss added "
            "to loss_type with this weight in loss_weights): keeps the chosen log-probs from falling, the known "
            "DPO failure. null: off (ours; tuned on a validation seed in the replication study)."
        },
    )
    margin_in_loss: bool = field(
        default=True,
        metadata={
            "help": "Shift the DPO loss by m_i. False: m_i only scores the hard-example sampler (sigmoid(m_i - "
            "beta * delta_i)) and the loss is plain DPO: the sampler-only ablation."
        },
    )

    def __post_init__(self) -> None:
        from ..data.schema import ERROR_TYPES, SEVERITIES
        from .hae import check_alpha, check_label_weights

        self.margin_severity_weights = check_label_weights(
            _json_mapping(self.margin_severity_weights), SEVERITIES, "margin_severity_weights"
        )
        self.margin_error_type_weights = check_label_weights(
            _json_mapping(self.margin_error_type_weights), ERROR_TYPES, "margin_error_type_weights"
        )
        check_alpha(self.margin_alpha)
        if self.rpo_alpha is not None and not self.rpo_alpha >= 0:
            raise ValueError(f"rpo_alpha must be >= 0 (null turns the NLL term off), got {self.rpo_alpha}")
        if not self.margin_gamma >= 0:
            raise ValueError(f"margin_gamma must be >= 0 (0 turns the margin off), got {self.margin_gamma}")


@dataclass
class HAESamplerArguments:
    """The hard-example-aware sampler: p_i = (1 - u) q_i + u / N, q_i ~ (eps + score_i) ** (1 / T)."""

    hard_example_sampler: bool = field(
        default=True,
        metadata={"help": "Draw pairs with replacement by hardness. False: TRL's uniform shuffle (each pair once)."},
    )
    sampler_temperature: float = field(
        default=1.0, metadata={"help": "T > 0: below 1 sharpens towards hard pairs (ours, not the paper's)."}
    )
    sampler_uniform_mix: float = field(
        default=0.2, metadata={"help": "u in [0, 1]: uniform share that keeps every pair reachable (ours)."}
    )
    sampler_eps: float = field(
        default=0.05, metadata={"help": "eps >= 0 added to every score before the power (ours)."}
    )
    sampler_refresh: bool = field(
        default=True,
        metadata={
            "help": "Each epoch, rescore drawn pairs by sigmoid(m - beta * delta) from their latest training step "
            "(no extra forward pass; every score starts at sigmoid(m), its value at delta = 0, so drawn and undrawn "
            "pairs stay on one scale); saved in checkpoints so a resumed run draws the same order."
        },
    )

    def __post_init__(self) -> None:
        from .hae import sampling_probabilities

        sampling_probabilities(
            [1.0], temperature=self.sampler_temperature, uniform_mix=self.sampler_uniform_mix, eps=self.sampler_eps
        )


@dataclass
class ReferencePassArguments:
    """The stored reference: log-probs and hardness computed once (`edit-handbook dpo-prepare`), checked at step 0."""

    reference_dir: str | None = field(
        default=None, metadata={"help": "Where the reference rows live (resumable). Unset: <output_dir>/reference."}
    )
    reference_batch_size: int = field(default=8, metadata={"help": "Pairs per reference forward pass."})
    reference_shard_size: int = field(default=256, metadata={"help": "Rows per written shard (a crash loses < this)."})
    reference_overwrite: bool = field(default=False, metadata={"help": "Recompute instead of resuming reference_dir."})
    reference_check_tolerance: float | None = field(
        default=0.05,
        metadata={
            "help": "Largest step-0 gap between policy and stored reference log-probs, in nats per token (ours: "
            "above bf16 batching noise, below what another checkpoint gives). null: no check."
        },
    )
