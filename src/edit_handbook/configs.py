"""Config dataclasses, one per concern, parsed by `trl.TrlParser` from a recipe YAML plus CLI flags.

Every field has a `help` string (it is the CLI documentation). Field names must not clash with
the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig): argparse refuses
duplicate flags, hence the `dataset_` prefixes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from trl import ScriptArguments

from .data.loading import SYNTHETIC
from .data.validation import DEFAULT_MAX_PIXELS


@dataclass
class DataArguments(ScriptArguments):
    """Which edit pairs to load and how strictly to check them (see `edit_handbook.data.loading.load_edit_pairs`).

    Extends TRL's ScriptArguments, so `dataset_name`, `dataset_config`, `dataset_train_split`,
    `dataset_test_split` and `dataset_streaming` keep their TRL meaning; the first and third
    default to the preset's Hub id and split.
    """

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Hub id, local path (a .jsonl/.csv manifest, a .parquet file or folder, a save_to_disk folder) "
            "or 'synthetic'. Unset: the preset's Hub id, or 'synthetic' when there is no preset."
        },
    )
    dataset_train_split: str | None = field(
        default=None, metadata={"help": "Split to train on. Unset: the preset's split, else 'train'."}
    )
    dataset_preset: str | None = field(
        default=None,
        metadata={
            "help": "Named column preset: superedit-40k, instructpix2pix, instructpix2pix-1000, magicbrush, hq-edit, "
            "ultraedit, bytemorph-bench (see edit_handbook.data.presets)."
        },
    )
    dataset_column_mapping: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "help": 'Canonical column -> your column, e.g. \'{"source_image": "src", "instruction": "prompt"}\' '
            "(a JSON string on the command line, a mapping in YAML); overrides the preset's entries."
        },
    )
    dataset_kind: Literal["edit", "preference"] = field(
        default="edit",
        metadata={"help": "'edit' (image pair + instruction) or 'preference' (chosen/rejected + error labels)."},
    )
    dataset_validation: Literal["full", "sample", "off"] = field(
        default="full",
        metadata={
            "help": "Check every row once at load ('full'), a seeded sample of dataset_validation_sample_size rows "
            "('sample'), or only the columns ('off')."
        },
    )
    dataset_validation_sample_size: int = field(
        default=1000, metadata={"help": "Rows checked when dataset_validation='sample'."}
    )
    dataset_on_error: Literal["raise", "skip"] = field(
        default="raise",
        metadata={"help": "On a bad row: 'raise' (fail the load, naming row, column and fix) or 'skip' (drop it)."},
    )
    dataset_validation_num_proc: int | None = field(
        default=None, metadata={"help": "Processes that validate rows in parallel (decoding every image once)."}
    )
    dataset_max_pixels: int = field(
        default=DEFAULT_MAX_PIXELS,
        metadata={"help": "Images with more pixels than this are bad rows (they would exhaust memory downstream)."},
    )
    dataset_seed: int = field(default=0, metadata={"help": "Seeds the validation sample and the synthetic set."})
    dataset_synthetic_pairs: int = field(
        default=256, metadata={"help": "Number of pairs when dataset_name='synthetic'."}
    )

    def __post_init__(self) -> None:
        if isinstance(self.dataset_column_mapping, str):
            self.dataset_column_mapping = json.loads(self.dataset_column_mapping)

    def load_kwargs(self, split: str | None = None) -> dict[str, Any]:
        """Keyword arguments of `load_edit_pairs` for `split` (default: the train split)."""
        return {
            "source": self.dataset_name or (None if self.dataset_preset else SYNTHETIC),
            "preset": self.dataset_preset,
            "column_mapping": self.dataset_column_mapping,
            "split": split or self.dataset_train_split,
            "kind": self.dataset_kind,
            "validation": self.dataset_validation,
            "sample_size": self.dataset_validation_sample_size,
            "on_error": self.dataset_on_error,
            "num_proc": self.dataset_validation_num_proc,
            "max_pixels": self.dataset_max_pixels,
            "streaming": self.dataset_streaming,
            "seed": self.dataset_seed,
            "config_name": self.dataset_config,
            "synthetic_pairs": self.dataset_synthetic_pairs,
        }


@dataclass
class SyntheticDataArguments:
    """The embedded synthetic edit pairs (`edit-handbook generate`; see `edit_handbook.data.synthetic`)."""

    output_dir: str = field(default="outputs/synthetic", metadata={"help": "Folder the dataset, card and grid go to."})
    num_pairs: int = field(default=1000, metadata={"help": "Number of pairs to generate."})
    seed: int = field(default=0, metadata={"help": "Pairs are a pure function of (seed, row index)."})
    image_size: int = field(default=256, metadata={"help": "Side of the square images, in pixels."})
    edit_types: list[str] | None = field(
        default=None, metadata={"help": "Edit types to cycle through (default: all twelve)."}
    )
    output_format: Literal["disk", "parquet"] = field(
        default="disk", metadata={"help": "'disk' (datasets.save_to_disk) or 'parquet' (one file, for the Hub)."}
    )
    num_proc: int | None = field(default=None, metadata={"help": "Processes that render pairs in parallel."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the dataset (with its card) to the Hub."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo id for push_to_hub."})


@dataclass
class SynthesisArguments:
    """What `edit-handbook synthesize <task>` computes and where it goes (see `edit_handbook.synth`)."""

    task: Literal["caption", "filter", "rectify", "negatives"] = field(
        default="rectify",
        metadata={
            "help": "caption (write instructions), filter (judge score, keep >= judge_threshold), rectify "
            "(SuperEdit's <= 77 CLIP-token description), negatives (k single-attribute wrong instructions)."
        },
    )
    output_dir: str = field(
        default="outputs/synthesis", metadata={"help": "Folder of shards (resumable), dataset and card."}
    )
    chunk_size: int = field(default=32, metadata={"help": "Rows handed to the backend at once."})
    shard_size: int = field(default=256, metadata={"help": "Rows per written shard (a crash loses < this)."})
    overwrite: bool = field(default=False, metadata={"help": "Start over instead of resuming output_dir."})
    judge_threshold: float = field(
        default=4.0, metadata={"help": "filter: rows whose judge score (0-5) is below this are rejected."}
    )
    num_negatives: int = field(default=4, metadata={"help": "negatives: k wrong instructions per pair."})
    min_negatives: int = field(
        default=1, metadata={"help": "negatives: a row with fewer usable negatives than this is rejected."}
    )
    max_clip_tokens: int = field(
        default=77, metadata={"help": "Longest rectified / negative instruction, CLIP tokens counting BOS/EOS."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the dataset and its card to the Hub."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo id for push_to_hub."})


@dataclass
class SynthesisBackendArguments:
    """Which model answers: a local transformers VLM, or any OpenAI-compatible server."""

    backend: Literal["local", "http"] = field(default="local", metadata={"help": "'local' or 'http'."})
    synthesis_model: str = field(
        default="Qwen/Qwen3-VL-8B-Instruct",
        metadata={
            "help": "local: a VLM checkpoint (Hub id or folder; 'tiny:qwen3-vl' for the tiny CPU model); "
            "http: the model name the server expects."
        },
    )
    synthesis_dtype: str = field(default="auto", metadata={"help": "local: model dtype (auto, bfloat16, ...)."})
    batch_size: int = field(default=8, metadata={"help": "local: pairs per generate call."})
    static_cache: bool = field(
        default=False, metadata={"help": "local: generate with a static KV cache (lets torch.compile reuse graphs)."}
    )
    base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "http: server base URL, up to and including /v1."}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "http: environment variable holding the API key (read, never logged; unset: no key)."},
    )
    concurrency: int = field(default=8, metadata={"help": "http: requests in flight at most."})
    request_timeout: float = field(default=120.0, metadata={"help": "http: seconds before a request is retried."})
    max_retries: int = field(
        default=5,
        metadata={"help": "http: retries on 429, 5xx, timeouts and unreadable bodies (exponential backoff)."},
    )
    retry_backoff: float = field(default=1.0, metadata={"help": "http: first backoff in seconds; doubles each retry."})
    response_format: Literal["json_schema", "json_object", "none"] = field(
        default="json_schema",
        metadata={
            "help": "http: how JSON answers are requested (json_schema for vLLM / OpenAI; none for servers "
            "that refuse response_format). Answers are parsed strictly either way, with one repair attempt."
        },
    )


# SuperEdit (arXiv 2505.02370, METHOD.md section 2). Parsed together with DataArguments by
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
class SuperEditTrainingArguments:
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
    use_ema: bool = field(default=True, metadata={"help": "Keep an EMA of the UNet (paper: on); it is what is saved."})
    ema_decay: float = field(default=0.9999, metadata={"help": "EMA decay (diffusers EMAModel, with warm-up off)."})
    checkpointing_steps: int = field(
        default=500, metadata={"help": "Save accelerator state every N steps (0: never)."}
    )
    checkpoints_total_limit: int | None = field(default=None, metadata={"help": "Keep only the newest N checkpoints."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or 'latest' to resume the newest in output_dir if any."}
    )
    validation_steps: int = field(
        default=500, metadata={"help": "Every N steps: validation grids and held-out d_neg - d_pos (0: never)."}
    )
    num_validation_pairs: int = field(default=4, metadata={"help": "Pairs in each validation grid and metric."})
    validation_inference_steps: int = field(default=20, metadata={"help": "Sampler steps per validation edit."})
    validation_guidance_scale: float = field(
        default=10.0, metadata={"help": "Text guidance of validation edits (Real-Edit protocol: 10)."}
    )
    validation_image_guidance_scale: float = field(
        default=1.5, metadata={"help": "Image guidance of validation edits (Real-Edit protocol: 1.5)."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Log metrics every N steps."})
    report_to: str = field(default="none", metadata={"help": "accelerate tracker: none, tensorboard, wandb, all."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the final pipeline and card to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id for push_to_hub."})
    hub_private: bool | None = field(default=None, metadata={"help": "Create the Hub repo as private."})


# Hub checkpoint revisions (issue 8): one field, mixed into the EditCaption script arguments below.
@dataclass
class CheckpointRevisionArguments:
    """Push each saved checkpoint to its own Hub branch while training (open-r1's revision pushes)."""

    push_checkpoint_revisions: bool = field(
        default=False,
        metadata={
            "help": "Upload every saved checkpoint (weights, config, processor, a card; no optimizer states) to branch "
            "'<hub_revision or main>-step-<global_step:09d>' of hub_model_id, in the background. Needs hub_model_id "
            "and save_total_limit != 1."
        },
    )


@dataclass
class CaptionerScriptArguments(DataArguments, CheckpointRevisionArguments):
    """What both EditCaption stages (`sft.py`, `dpo.py`) share: synthetic data, held-out split, image size
    bounds, the vision tower, checker-driven stopping and the dry run."""

    dataset_synthetic_edit_types: list[str] | None = field(
        default=None,
        metadata={"help": "With dataset_name='synthetic': only these edit types (e.g. move recolour). Unset: all."},
    )
    dataset_synthetic_image_size: int = field(
        default=256, metadata={"help": "With dataset_name='synthetic': side of the generated images, in pixels."}
    )
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
            "help": "Train only the language side (and the merger); with LoRA, no adapters in the vision tower."
        },
    )
    stop_at_checker_accuracy: float | None = field(
        default=None,
        metadata={
            "help": "Synthetic data only: every checker_eval_steps, caption the training pairs greedily and stop "
            "once the exact checker accepts this share of them (the smoke recipe trains to 0.9)."
        },
    )
    checker_eval_steps: int = field(default=250, metadata={"help": "Steps between checker evaluations."})
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


# EditCaption stage 2, HAE-DPO (METHOD.md section 1). The paper's formula and constants are not public: every
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
        metadata={
            "help": "s(severity) for minor, major, critical (METHOD.md's example values; ours, not the paper's)."
        },
    )
    margin_error_type_weights: dict[str, float] | str = field(
        default_factory=lambda: {"orientation": 1.0, "viewpoint": 1.0, "attribute": 1.0, "other": 0.5},
        metadata={
            "help": "w(type) for orientation, viewpoint, attribute, other (ours, not the paper's): EditCaption's "
            "three failure modes weigh fully, the catch-all half."
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
        from .data.schema import ERROR_TYPES, SEVERITIES
        from .editcaption.hae import check_alpha, check_label_weights

        self.margin_severity_weights = check_label_weights(
            _json_mapping(self.margin_severity_weights), SEVERITIES, "margin_severity_weights"
        )
        self.margin_error_type_weights = check_label_weights(
            _json_mapping(self.margin_error_type_weights), ERROR_TYPES, "margin_error_type_weights"
        )
        check_alpha(self.margin_alpha)
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
        from .editcaption.hae import sampling_probabilities

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


# Evaluation: editing quality. SuperEdit's Real-Edit protocol (METHOD.md, "Real-Edit evaluation"): the paper's
# inference settings are the defaults. Read by `evaluation.editing.evaluate_editor` (its `settings`).
@dataclass
class EditingEvaluationArguments:
    """Which editor edits which Real-Edit photos, how, and what judges and measures the edits."""

    editor_model: str | None = field(
        default=None,
        metadata={"help": "InstructPix2Pix pipeline to evaluate: Hub id, local folder, or 'tiny:instruct-pix2pix'."},
    )
    real_edit_dir: str | None = field(
        default=None,
        metadata={"help": "Real-Edit as SuperEdit released it: the folder holding eval_instruct.json and imgs/."},
    )
    real_edit_types: list[str] | None = field(
        default=None,
        metadata={"help": "Edit types to keep (Local, Remove, Add, Texture, Background, Global, Style). Unset: all."},
    )
    real_edit_images: list[str] | None = field(
        default=None, metadata={"help": "Photos to keep, by key in eval_instruct.json (e.g. '2.jpeg'). Unset: all."}
    )
    real_edit_max_images: int | None = field(default=None, metadata={"help": "Keep only the first N photos."})
    edit_scheduler: Literal["euler_ancestral", "pipeline"] = field(
        default="euler_ancestral",
        metadata={"help": "Sampler: 'euler_ancestral' (Real-Edit protocol) or 'pipeline' (the editor's own)."},
    )
    edit_num_inference_steps: int = field(default=50, metadata={"help": "Denoising steps (Real-Edit protocol: 50)."})
    edit_guidance_scale: float = field(default=10.0, metadata={"help": "Text guidance (Real-Edit protocol: 10)."})
    edit_image_guidance_scale: float = field(
        default=1.5, metadata={"help": "Image guidance (Real-Edit protocol: 1.5)."}
    )
    edit_seed: int = field(
        default=42,
        metadata={
            "help": "Seed (Real-Edit protocol: 42). Every edit gets its own generator seeded with it, so an edit does "
            "not depend on batch or order (the release draws all edits from one generator in sequence)."
        },
    )
    edit_resolution: int | None = field(
        default=None,
        metadata={
            "help": "Shorter side, in pixels, the photo is resized to before editing (aspect kept; the pipeline "
            "rounds each side down to a multiple of 8). Unset: the photo's own size, as the release edits it."
        },
    )
    edit_dtype: Literal["auto", "float32", "float16", "bfloat16"] = field(
        default="auto",
        metadata={"help": "Editor dtype when loaded by name; 'auto': float16 on CUDA (as the release), else float32."},
    )
    edit_batch_size: int = field(default=4, metadata={"help": "Edits per pipeline call (same-size photos batch)."})
    edit_overwrite: bool = field(
        default=False,
        metadata={"help": "Redo every edit. Otherwise edits already in <output_dir>/edits are reused (resume)."},
    )
    edit_judge_resolution: int = field(
        default=512,
        metadata={"help": "Height the judge sees the source and the edit at (aspect kept; the release's 512)."},
    )
    edit_judge_max_new_tokens: int = field(default=128, metadata={"help": "Answer budget of each judge question."})
    edit_metrics: list[str] = field(
        default_factory=lambda: ["clip_i", "clip_t", "clip_directional", "dino_similarity"],
        metadata={
            "help": "Automatic metrics: clip_i, clip_t, clip_directional, dino_similarity, l1, l2 (l1/l2 need "
            "target images, which Real-Edit has not). A metric whose model cannot be loaded is skipped and noted."
        },
    )
    edit_clip_model: str | None = field(
        default=None, metadata={"help": "CLIP for the CLIP metrics. Unset: openai/clip-vit-large-patch14."}
    )
    edit_dino_model: str | None = field(
        default=None, metadata={"help": "DINOv2 for dino_similarity. Unset: facebook/dinov2-base."}
    )
    edit_metric_batch_size: int = field(default=32, metadata={"help": "Images per CLIP / DINO forward pass."})

    def __post_init__(self) -> None:
        from .evaluation.metrics import METRIC_NAMES
        from .evaluation.real_edit import EDIT_TYPES

        for name, values, known in (
            ("edit_metrics", self.edit_metrics, METRIC_NAMES),
            ("real_edit_types", self.real_edit_types or [], EDIT_TYPES),
        ):
            unknown = [value for value in values if value not in known]
            if unknown:
                raise ValueError(f"{name}: unknown {unknown}; choose from {', '.join(known)}")
        for name in ("edit_num_inference_steps", "edit_batch_size", "edit_judge_resolution", "edit_metric_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


# Evaluation: instruction quality (issue 7). Parsed by `evaluate.py` with DataArguments (the pairs to evaluate on);
# the Real-Edit suite's arguments join the same parser.


@dataclass
class EvaluationArguments:
    """Which suite runs on which captioners, where the report goes, and how intervals are computed."""

    suite: Literal["instructions", "synthetic", "real-edit", "report"] = field(
        default="instructions",
        metadata={
            "help": "instructions (VLM judge: score, correct / minor / critical, error type), synthetic (exact "
            "checker on synthetic pairs, plus synthesis_output), real-edit (an editor on Real-Edit), report "
            "(render saved results)."
        },
    )
    output_dir: str = field(
        default="outputs/evaluation", metadata={"help": "Folder of results/, images/, plots/, report.json, report.md."}
    )
    captioners: list[str] = field(
        default_factory=lambda: ["column:instruction"],
        metadata={
            "help": "Captioners side by side, each '[name=]source': 'column:<col>' (instructions already in the data), "
            "'http:<model>' (served at captioner_base_url), or a local checkpoint folder / Hub id. The first is the "
            "baseline of the paired differences."
        },
    )
    max_pairs: int | None = field(default=None, metadata={"help": "Evaluate the first N pairs only. Unset: all."})
    captioner_base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "Base URL (up to /v1) of 'http:' captioners."}
    )
    captioner_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Environment variable with the 'http:' captioners' API key (never logged; unset: none)."},
    )
    captioner_dtype: str = field(default="auto", metadata={"help": "Local captioners' dtype (auto, bfloat16, ...)."})
    captioner_batch_size: int = field(default=8, metadata={"help": "Pairs per generate call of local captioners."})
    synthesis_output: str | None = field(
        default=None,
        metadata={
            "help": "synthetic: also check a synthesis output folder (`edit-handbook synthesize rectify/negatives`): "
            "rectification success (<= 77 CLIP tokens, four aspects) and negative validity."
        },
    )
    results: list[str] | None = field(
        default=None, metadata={"help": "report: SuiteResult JSON files or report folders to render together."}
    )
    report_title: str = field(default="Evaluation report", metadata={"help": "Title of report.md."})
    grid_items: int = field(default=8, metadata={"help": "Items in each best / worst image grid."})
    bootstrap_resamples: int = field(default=1000, metadata={"help": "Bootstrap resamples per interval."})
    confidence_level: float = field(default=0.95, metadata={"help": "Coverage of the bootstrap intervals."})
    bootstrap_seed: int = field(default=0, metadata={"help": "Seed of the bootstrap resampling."})

    def stats(self) -> dict[str, Any]:
        """Keyword arguments of `evaluation.stats.estimate`."""
        return {
            "num_resamples": self.bootstrap_resamples,
            "confidence": self.confidence_level,
            "seed": self.bootstrap_seed,
        }


@dataclass
class EvaluationJudgeArguments:
    """The VLM judge: a local transformers model or any OpenAI-compatible server, answers optionally cached."""

    judge_backend: Literal["local", "http"] = field(default="local", metadata={"help": "'local' or 'http'."})
    judge_model: str = field(
        default="Qwen/Qwen3-VL-8B-Instruct",
        metadata={"help": "local: checkpoint folder or Hub id ('tiny:qwen3-vl' on CPU); http: the served model name."},
    )
    judge_dtype: str = field(default="auto", metadata={"help": "local: model dtype."})
    judge_batch_size: int = field(default=8, metadata={"help": "local: judge requests per generate call."})
    judge_base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "http: base URL up to /v1."})
    judge_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "http: environment variable with the API key (never logged)."}
    )
    judge_concurrency: int = field(default=8, metadata={"help": "http: requests in flight at most."})
    judge_request_timeout: float = field(default=120.0, metadata={"help": "http: seconds before a retry."})
    judge_max_retries: int = field(default=5, metadata={"help": "http: retries on 429, 5xx and timeouts."})
    judge_response_format: Literal["json_schema", "json_object", "none"] = field(
        default="json_schema", metadata={"help": "http: how JSON answers are requested (see synthesis backends)."}
    )
    judge_max_new_tokens: int = field(default=256, metadata={"help": "Longest judge answer, in tokens."})
    judge_cache_dir: str | None = field(
        default=None, metadata={"help": "Store every judge reply here: a rerun asks the model nothing twice."}
    )

    def backend_arguments(self) -> SynthesisBackendArguments:
        """The same settings as the synthesis backends take (one factory builds both)."""
        return SynthesisBackendArguments(
            backend=self.judge_backend,
            synthesis_model=self.judge_model,
            synthesis_dtype=self.judge_dtype,
            batch_size=self.judge_batch_size,
            base_url=self.judge_base_url,
            api_key_env=self.judge_api_key_env,
            concurrency=self.judge_concurrency,
            request_timeout=self.judge_request_timeout,
            max_retries=self.judge_max_retries,
            response_format=self.judge_response_format,
        )
