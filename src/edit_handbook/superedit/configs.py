"""SuperEdit's settings: the editor, the inputs, the losses, the caches and the training loop.

Parsed by `trl.TrlParser` from a recipe YAML plus CLI flags; every field's `help` is its CLI documentation.
Field names must not clash with the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..hub.configs import CheckpointRevisionArguments
from ..models.editor import PAPER_GUIDANCE_SCALE, PAPER_IMAGE_GUIDANCE_SCALE


# SuperEdit (arXiv 2505.02370, docs/method.md section 2). Parsed together with DataArguments by
# `train_superedit.py`; paper constants default to the paper's values and name their source.


@dataclass
class SuperEditModelArguments:
    """Which InstructPix2Pix-architecture editor to start from; only its UNet trains."""

    pretrained_model_name_or_path: str = field(
        default="timbrooks/instruct-pix2pix",
        metadata={
            "help": "An InstructPix2Pix checkpoint (Hub id or folder), a Stable Diffusion 1.x checkpoint with "
            "from_sd15, or 'tiny:instruct-pix2pix' for the tiny random CPU pipeline the smoke recipe uses. "
            "The paper starts from InstructDiffusion's SD1.5 InstructPix2Pix-architecture weights."
        },
    )
    from_sd15: bool = field(
        default=False,
        metadata={
            "help": "Start from a text-to-image SD1.x checkpoint: conv_in expanded to 8 channels, zero-initialised."
        },
    )


@dataclass
class SuperEditDataArguments:
    """How rows become training inputs (the rows themselves come from DataArguments)."""

    resolution: int = field(
        default=512, metadata={"help": "Training side in pixels (paper: 512). Centre crop, no flip."}
    )
    instruction_column: str = field(
        default="rectified_instruction",
        metadata={"help": "Positive prompt column: SuperEdit trains on the rectified instructions."},
    )
    negatives_column: str = field(
        default="negative_instructions",
        metadata={"help": "List column of wrong instructions; one is sampled per example per epoch."},
    )
    heldout_pairs: int = field(
        default=0,
        metadata={
            "help": "Rows taken from the end of the data and never trained on; validation grids and the "
            "d_neg - d_pos metric use them. 0: both use the first training rows."
        },
    )
    dataloader_num_workers: int = field(default=0, metadata={"help": "Dataloader worker processes."})


@dataclass
class SuperEditLossArguments:
    """SuperEdit's loss: noise MSE + lambda * masked triplet hinge, and InstructPix2Pix conditioning dropout."""

    triplet_weight: float = field(default=1.0, metadata={"help": "lambda, weight of the triplet term (paper: 1.0)."})
    triplet_margin: float = field(
        default=5e-3,
        metadata={
            "help": "Hinge margin m on d_pos - d_neg. Paper text: 5e-3 (the default); released training script: "
            "5e-4 (its argparse default is 0.02)."
        },
    )
    triplet_start_step: int = field(
        default=2000,
        metadata={
            "help": "Global optimisation step from which the triplet term is on (paper: 2,000). Before it the "
            "negative branch is skipped. 0: on from the start; a value >= max_train_steps: never (control runs)."
        },
    )
    conditioning_dropout_prob: float = field(
        default=0.05,
        metadata={
            "help": "InstructPix2Pix conditioning dropout p (Brooks et al. 2023; SuperEdit keeps it): text dropped "
            "if r < 2p, source image zeroed if p <= r < 3p. The triplet term is masked where the text is dropped."
        },
    )


@dataclass
class SuperEditCacheArguments:
    """Caches of the frozen encoders' outputs, keyed by a fingerprint of model, data and settings."""

    cache_latents: bool = field(
        default=True,
        metadata={
            "help": "Cache VAE latent distributions (mean, log-variance; a fresh target latent is sampled every step)."
        },
    )
    cache_text_embeddings: bool = field(
        default=False,
        metadata={
            "help": "Cache CLIP embeddings of every instruction and negative in a memory-mapped file (77 x 768 values "
            "per prompt: tens of GB for SuperEdit-40K; the size is printed before it is built)."
        },
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where caches live. Unset: $EDIT_HANDBOOK_CACHE/superedit (~/.cache/edit_handbook)."},
    )
    cache_dtype: Literal["float16", "float32"] = field(
        default="float16",
        metadata={"help": "Storage dtype of the caches; float32 reproduces the uncached loss exactly."},
    )
    cache_batch_size: int = field(default=16, metadata={"help": "Pairs (or 4x as many prompts) encoded per batch."})


@dataclass
class SuperEditTrainingArguments(CheckpointRevisionArguments):
    """Optimisation, precision, checkpoints, validation, logging and publishing of the SuperEdit trainer."""

    output_dir: str = field(default="outputs/superedit", metadata={"help": "Checkpoints, grids, final pipeline."})
    seed: int = field(default=42, metadata={"help": "Seeds initialisation, data order, negatives and noise."})
    max_train_steps: int = field(default=6000, metadata={"help": "Optimisation steps (paper: ~6,000)."})
    per_device_train_batch_size: int = field(
        default=64,
        metadata={"help": "Per-GPU batch; global batch = this x gradient_accumulation_steps x GPUs (paper: 512)."},
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimisation step."})
    learning_rate: float = field(default=1e-4, metadata={"help": "AdamW learning rate (paper: 1e-4, constant)."})
    lr_scheduler: str = field(
        default="constant", metadata={"help": "diffusers get_scheduler name: constant (paper), cosine, linear, ..."}
    )
    lr_warmup_steps: int = field(default=0, metadata={"help": "Warm-up optimisation steps."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    adam_weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay."})
    adam_epsilon: float = field(default=1e-8, metadata={"help": "AdamW epsilon."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 disables)."})
    mixed_precision: Literal["no", "fp16", "bf16"] = field(
        default="bf16", metadata={"help": "Autocast precision (paper: bf16); frozen encoders run in it too."}
    )
    gradient_checkpointing: bool = field(default=True, metadata={"help": "Recompute UNet activations (paper: on)."})
    allow_tf32: bool = field(default=True, metadata={"help": "TF32 matmuls on Ampere+ GPUs."})
    torch_compile: bool | None = field(
        default=None,
        metadata={
            "help": "torch.compile the UNet in place. Unset: on for CUDA, off elsewhere. If compiling cannot run "
            "(no Triton, no compiler, a failing compile) the trainer logs why and trains eagerly; refused under ZeRO-3."
        },
    )
    torch_compile_backend: str = field(default="inductor", metadata={"help": "torch.compile backend."})
    torch_compile_mode: str | None = field(
        default=None, metadata={"help": "torch.compile mode (default, reduce-overhead, max-autotune)."}
    )
    channels_last: bool = field(
        default=True,
        metadata={
            "help": "UNet weights in channels-last memory format (faster convolutions on GPUs); not under DeepSpeed, "
            "which needs contiguous parameters."
        },
    )
    use_ema: bool = field(default=True, metadata={"help": "Keep an EMA of the UNet (paper: on); it is what is saved."})
    ema_decay: float = field(default=0.9999, metadata={"help": "EMA decay (diffusers EMAModel, with warm-up off)."})
    checkpointing_steps: int = field(
        default=500, metadata={"help": "Save accelerator state every N steps (0: never)."}
    )
    checkpoints_total_limit: int | None = field(default=None, metadata={"help": "Keep only the newest N checkpoints."})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "A checkpoint folder, or 'latest' to resume the newest in output_dir if any. The EMA weights are "
            "read from safetensors; accelerate's and DeepSpeed's own files (optimizer, RNG states, ZeRO shards) are "
            "loaded by those libraries, which unpickle them: resume only from checkpoints you made yourself."
        },
    )
    validation_steps: int = field(
        default=500, metadata={"help": "Every N steps: validation grids and held-out d_neg - d_pos (0: never)."}
    )
    num_validation_pairs: int = field(default=4, metadata={"help": "Pairs in each validation grid and metric."})
    validation_inference_steps: int = field(default=20, metadata={"help": "Sampler steps per validation edit."})
    validation_guidance_scale: float = field(
        default=PAPER_GUIDANCE_SCALE, metadata={"help": "Text guidance of validation edits (Real-Edit protocol: 10)."}
    )
    validation_image_guidance_scale: float = field(
        default=PAPER_IMAGE_GUIDANCE_SCALE,
        metadata={"help": "Image guidance of validation edits (Real-Edit protocol: 1.5)."},
    )
    logging_steps: int = field(default=10, metadata={"help": "Log metrics every N steps."})
    report_to: str = field(default="none", metadata={"help": "accelerate tracker: none, tensorboard, wandb, all."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the final pipeline and card to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id for push_to_hub."})
    hub_private: bool | None = field(default=None, metadata={"help": "Create the Hub repo as private."})
    hub_revision: str | None = field(
        default=None, metadata={"help": "Branch of hub_model_id to push to (and prefix of the checkpoint branches)."}
    )


@dataclass
class TutorialEditorArguments:
    """The tutorial-scale editor (`edit-handbook tutorial-editor`, `superedit/tutorial.py`): its fitted base,
    its synthetic training pairs and the held-out pixel benchmark it is measured on after training."""

    tutorial_base: str | None = field(
        default=None,
        metadata={
            "help": "An InstructPix2Pix folder whose VAE and text encoder to reuse (e.g. the shipped tutorial editor); "
            "its UNet is replaced by a fresh one. Unset: fit both first (`superedit.tutorial.build_tutorial_base`) "
            "into <output_dir>/base, reused when it exists."
        },
    )
    tutorial_vae_steps: int = field(default=300, metadata={"help": "VAE fitting steps (batch 32) when fitting."})
    tutorial_text_steps: int = field(default=300, metadata={"help": "Text-encoder fitting steps (batch 64)."})
    tutorial_train_pairs: int = field(default=3000, metadata={"help": "Synthetic training pairs (pair seed below)."})
    tutorial_pairs_seed: int = field(default=0, metadata={"help": "Generator seed of the training pairs."})
    tutorial_edit_types: list[str] = field(
        default_factory=lambda: ["recolour", "move", "resize", "add", "remove"],
        metadata={"help": "Edit types of the training pairs (those the pixel benchmark reads)."},
    )
    tutorial_noisy_share: float = field(
        default=0.0,
        metadata={
            "help": "Share of training pairs whose instruction is replaced by one of the generator's flawed ones, "
            "in the column `noisy_instruction` (train on it with --instruction_column noisy_instruction)."
        },
    )
    tutorial_image_size: int = field(default=32, metadata={"help": "Side of the images (px); the VAE halves it."})
    tutorial_eval_pairs_per_type: int = field(
        default=50, metadata={"help": "Held-out pairs per edit type scored after training (0: skip)."}
    )
    tutorial_eval_seed: int = field(default=1000, metadata={"help": "Generator seed of the held-out pairs."})
    tutorial_eval_steps: int = field(default=20, metadata={"help": "Denoising steps of the held-out edits."})
    tutorial_eval_guidance_scale: float = field(default=3.0, metadata={"help": "Text guidance of held-out edits."})
    tutorial_eval_image_guidance_scale: float = field(
        default=1.5, metadata={"help": "Image guidance of held-out edits."}
    )
