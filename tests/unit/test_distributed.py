"""The launcher-state choice and the forward-only DeepSpeed config (pure functions of their inputs)."""

import pytest
import torch

from edit_handbook.distributed import inference_config, state_kwargs


LAUNCHED = {"LOCAL_RANK": "0", "WORLD_SIZE": "2"}


@pytest.mark.parametrize(
    ("environ", "has_accelerator", "expected"),
    [
        ({}, False, {}),  # a plain `python script.py`: accelerate's default
        ({"ACCELERATE_USE_CPU": "true"}, True, {"cpu": True}),  # `accelerate launch --cpu`, anywhere
        ({**LAUNCHED, "ACCELERATE_USE_DEEPSPEED": "true"}, True, {}),  # GPUs: NCCL, accelerate's choice
        ({**LAUNCHED, "ACCELERATE_USE_DEEPSPEED": "true"}, False, {"backend": "gloo"}),  # zero*.yaml without GPUs
        (LAUNCHED, False, {"cpu": True}),  # ddp.yaml without GPUs: MULTI_CPU
        ({"WORLD_SIZE": "1", "ACCELERATE_USE_DEEPSPEED": "true"}, False, {}),  # one process: nothing to choose
    ],
)
def test_state_kwargs_give_every_launcher_config_a_backend(environ, has_accelerator, expected):
    assert state_kwargs(environ, has_accelerator) == expected


def _launcher_config(**overrides):
    """What accelerate builds from `accelerate_configs/zero3.yaml` before a Trainer fills anything in."""
    config = {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": 1,
        "zero_optimization": {
            "stage": 3,
            "offload_optimizer": {"device": "none", "nvme_path": None},
            "offload_param": {"device": "none", "nvme_path": None},
            "stage3_gather_16bit_weights_on_model_save": True,
        },
        "gradient_clipping": 1.0,
        "steps_per_print": float("inf"),
        "bf16": {"enabled": True},
    }
    config.update(overrides)
    return config


def test_inference_config_decides_batch_sizes_and_drops_training_blocks():
    original = _launcher_config(optimizer={"type": "AdamW"}, scheduler={"type": "WarmupLR"})
    config = inference_config(original, micro_batch_size=4, world_size=2, hidden_size=64, dtype=torch.bfloat16)
    assert config["train_micro_batch_size_per_gpu"] == 4
    assert config["gradient_accumulation_steps"] == 1
    assert config["train_batch_size"] == 8
    assert "optimizer" not in config and "scheduler" not in config and "gradient_clipping" not in config
    assert "offload_optimizer" not in config["zero_optimization"]
    assert config["zero_optimization"]["offload_param"] == {"device": "none", "nvme_path": None}
    assert original["train_batch_size"] == "auto" and "optimizer" in original  # the launcher's config is untouched


def test_inference_config_fills_a_user_files_autos_from_the_model():
    """The HF-style DeepSpeed files leave bucket sizes and precision 'auto' as well."""
    zero = {"stage": 3, "reduce_bucket_size": "auto", "stage3_prefetch_bucket_size": "auto"}
    zero["stage3_param_persistence_threshold"] = "auto"
    original = _launcher_config(
        zero_optimization=zero, bf16={"enabled": "auto"}, fp16={"enabled": "auto"}, gradient_accumulation_steps="auto"
    )
    config = inference_config(original, micro_batch_size=1, world_size=8, hidden_size=64, dtype=torch.bfloat16)
    assert config["zero_optimization"]["reduce_bucket_size"] == 64 * 64
    assert config["zero_optimization"]["stage3_prefetch_bucket_size"] == int(0.9 * 64 * 64)
    assert config["zero_optimization"]["stage3_param_persistence_threshold"] == 640
    assert config["bf16"]["enabled"] is True and config["fp16"]["enabled"] is False
    assert config["gradient_accumulation_steps"] == 1 and config["train_batch_size"] == 8


def test_inference_config_names_an_auto_it_cannot_decide():
    original = _launcher_config(zero_optimization={"stage": 3, "sub_group_size": "auto"})
    with pytest.raises(ValueError, match=r"zero_optimization\.sub_group_size"):
        inference_config(original, micro_batch_size=1, world_size=1, hidden_size=64, dtype=torch.float32)
