"""Model preparation for SFT: frozen or slower vision tower, LoRA that reaches MoE experts, named tiny models."""

import pytest
import torch
from peft import get_peft_model
from trl import ModelConfig

from edit_handbook.editcaption.configs import SFTScriptArguments
from edit_handbook.editcaption.modeling import (
    captioner_peft_config,
    load_captioner,
    scale_vision_tower_lr,
    vision_tower,
)
from edit_handbook.models import load_vlm, tiny_qwen3_vl_moe
from edit_handbook.models.registry import resolve_model


def test_freeze_vision_tower_in_full_finetuning(tiny_qwen3_vl_path):
    model, _ = load_captioner(
        ModelConfig(model_name_or_path=str(tiny_qwen3_vl_path), dtype="float32"),
        min_pixels=None,
        max_pixels=None,
        freeze_vision_tower=True,
    )
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(".visual." in name for name in frozen)
    assert all(p.requires_grad for name, p in model.named_parameters() if ".visual." not in name)


def test_vision_tower_lr_scale_splits_the_groups_and_survives_the_scheduler(tiny_qwen3_vl_path):
    model, _ = load_vlm(str(tiny_qwen3_vl_path), dtype=torch.float32)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": params[::2], "weight_decay": 0.1}, {"params": params[1::2], "weight_decay": 0.0}], lr=1e-3
    )
    scale_vision_tower_lr(optimizer, model, 0.25)
    tower = {id(p) for p in vision_tower(model).parameters()}
    seen = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(seen) == sorted(id(p) for p in params)  # every parameter once
    for group in optimizer.param_groups:
        kinds = {id(p) in tower for p in group["params"]}
        assert len(kinds) == 1  # a group is all tower or all the rest
        assert group["lr"] == (2.5e-4 if kinds == {True} else 1e-3)
    assert sorted(group["weight_decay"] for group in optimizer.param_groups) == [0.0, 0.0, 0.1, 0.1]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / 10)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    lrs = sorted({round(group["lr"], 12) for group in optimizer.param_groups})
    assert lrs == pytest.approx([1.5e-4, 6e-4])  # both at 0.6 of their start: the ratio holds


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"vision_tower_lr_scale": 0.0}, "in \\(0, 1\\]"),
        ({"vision_tower_lr_scale": 0.1, "freeze_vision_tower": True}, "drop one"),
    ],
)
def test_vision_tower_lr_scale_is_checked(options, message):
    with pytest.raises(ValueError, match=message):
        SFTScriptArguments(dataset_name="synthetic", **options)


def test_lora_reaches_moe_expert_weights_and_skips_the_frozen_vision_tower(model_cache_dir):
    model, _ = load_vlm(tiny_qwen3_vl_moe(cache_dir=model_cache_dir), dtype=torch.float32)
    args = ModelConfig(
        use_peft=True,
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,  # PEFT's ParamWrapper (LoRA on a raw parameter) refuses dropout
        lora_target_modules=["q_proj", "v_proj"],
        lora_target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
    )
    peft_model = get_peft_model(model, captioner_peft_config(args, freeze_vision_tower=True))
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    assert any("experts" in name and "lora" in name for name in trainable), trainable
    assert any("q_proj" in name for name in trainable)
    assert not any(".visual." in name for name in trainable)


def test_named_tiny_models_resolve_and_other_names_pass_through():
    assert resolve_model("Qwen/Qwen3-VL-8B-Instruct") == "Qwen/Qwen3-VL-8B-Instruct"
