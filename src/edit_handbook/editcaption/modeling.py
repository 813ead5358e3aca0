"""Loading the instruction writer for training: named tiny models (`models.registry`), vision-tower freezing or a
lower learning rate for it, LoRA targets.

Kept out of `sft.py` (and shared with `dpo.py`) so the scripts stay a list of steps.
"""

from __future__ import annotations

import torch
from peft import LoraConfig
from transformers import PreTrainedModel, ProcessorMixin
from trl import ModelConfig, SFTTrainer, get_peft_config

from edit_handbook.editcaption import smoke_model  # noqa: F401  (registers the smoke model's name)
from edit_handbook.models import load_vlm
from edit_handbook.models.registry import resolve_model


# Where the vision encoder lives in the image-text-to-text models we support (Qwen2.5-VL/Qwen3-VL: `visual`).
VISION_TOWER_NAMES = ("visual", "vision_tower", "vision_model")


def _dtype(name: str | None) -> str | torch.dtype:
    return name if name in (None, "auto") else getattr(torch, name)


def vision_tower(model: PreTrainedModel) -> torch.nn.Module:
    inner = getattr(model, "model", model)
    for name in VISION_TOWER_NAMES:
        if hasattr(inner, name):
            return getattr(inner, name)
    raise ValueError(
        f"cannot find the vision tower of {type(model).__name__} (looked for {', '.join(VISION_TOWER_NAMES)}); "
        "set freeze_vision_tower: false or add its attribute name to VISION_TOWER_NAMES"
    )


def load_captioner(
    model_args: ModelConfig,
    *,
    min_pixels: int | None,
    max_pixels: int | None,
    freeze_vision_tower: bool,
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, ProcessorMixin]:
    """Model + processor for training; the vision tower's weights are frozen when asked (full FT or LoRA)."""
    model, processor = load_vlm(
        resolve_model(model_args.model_name_or_path),
        dtype=_dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
        trust_remote_code=trust_remote_code,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    if freeze_vision_tower:
        vision_tower(model).requires_grad_(False)
    return model, processor


def scale_vision_tower_lr(optimizer: torch.optim.Optimizer, model: PreTrainedModel, scale: float) -> None:
    """Split each of `optimizer`'s param groups (before its first step) into the rest, unchanged, and the vision
    tower's parameters at `lr * scale`. A learning-rate scheduler built afterwards keeps the ratio: it scales every
    group's initial lr by the same factor."""
    in_tower = {id(p) for p in vision_tower(model).parameters()}
    groups = []
    for group in optimizer.param_groups:
        options = {key: value for key, value in group.items() if key != "params"}
        rest = [p for p in group["params"] if id(p) not in in_tower]
        tower = [p for p in group["params"] if id(p) in in_tower]
        groups += [{**options, "params": rest}] if rest else []
        groups += [{**options, "params": tower, "lr": options["lr"] * scale}] if tower else []
    optimizer.param_groups.clear()
    for group in groups:
        optimizer.add_param_group(group)


class CaptionerSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer, whose optimizer can give the vision tower a lower learning rate (`vision_tower_lr_scale`).

    Done in `create_optimizer`, where transformers builds its param groups: passing an optimizer in is refused
    under DeepSpeed, while transformers' DeepSpeed set-up calls `create_optimizer` when the DeepSpeed config names
    no optimizer (read in its source; not run under ZeRO-3 here)."""

    def __init__(self, *args, vision_tower_lr_scale: float = 1.0, **kwargs):
        self.vision_tower_lr_scale = vision_tower_lr_scale
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None):
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if fresh and self.vision_tower_lr_scale != 1:
            scale_vision_tower_lr(optimizer, self.model if model is None else model, self.vision_tower_lr_scale)
        return optimizer


def captioner_peft_config(model_args: ModelConfig, *, freeze_vision_tower: bool) -> LoraConfig | None:
    """TRL's LoRA config from ModelConfig; a frozen vision tower gets no adapters.

    MoE experts are fused 3-D parameters in transformers 5 (no `nn.Linear` per expert), so LoRA reaches them
    through `lora_target_parameters` (e.g. `mlp.experts.gate_up_proj`), not `lora_target_modules`.
    """
    config = get_peft_config(model_args)
    if config is not None and freeze_vision_tower:
        config.exclude_modules = rf".*\.({'|'.join(VISION_TOWER_NAMES)})\..*"
    return config
