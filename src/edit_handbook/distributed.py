"""Distributed plumbing every entry point shares: the process group on any machine, DeepSpeed ZeRO-3 helpers.

- `process_state`: the `PartialState` to make before any `Accelerator`, so that every launcher config in
  `accelerate_configs/` gives the right ranks on GPU and CPU machines alike.
- `outside_zero3_init`: build frozen models whole while a ZeRO-3 config is active.
- `zero3_inference_engine`: run a ZeRO-3-partitioned model forward outside a Trainer (reference pass,
  generation), with a DeepSpeed config whose `"auto"` values no Trainer has filled in.
- `leave_process_group`: the last call of every script.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from accelerate import PartialState


def _has_accelerator() -> bool:
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6 covers CUDA, XPU, MPS, ...
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


def state_kwargs(environ: Mapping[str, str], has_accelerator: bool) -> dict[str, Any]:
    """The `PartialState` arguments `process_state` uses, from the launcher's environment (a pure function)."""

    def flag(name: str) -> bool:
        return environ.get(name, "false").lower() in ("1", "true", "yes")

    if flag("ACCELERATE_USE_CPU"):
        return {"cpu": True}
    launched = int(environ.get("LOCAL_RANK", -1)) != -1 or int(environ.get("WORLD_SIZE", 1)) > 1
    if not launched or has_accelerator:
        return {}
    return {"backend": "gloo"} if flag("ACCELERATE_USE_DEEPSPEED") else {"cpu": True}


def process_state() -> PartialState:
    """This process's `PartialState`, with a backend chosen that also works on a machine without GPUs.

    Launched (by `accelerate launch` or torchrun) on a machine without an accelerator, accelerate picks no
    backend unless told: every rank then reports `num_processes=1, process_index=0` while torch's world holds
    them all (both ranks write rank 0's files). There the group is made over gloo: a DeepSpeed config keeps
    DeepSpeed (whose CPU accelerator uses gloo), any other config becomes accelerate's MULTI_CPU. On GPU
    machines, and when `ACCELERATE_USE_CPU` is set, accelerate's own choice stands. Call it before the first
    `Accelerator`/`PartialState`; later calls return the same shared state.
    """
    return PartialState(**state_kwargs(os.environ, _has_accelerator()))


@contextlib.contextmanager
def outside_zero3_init() -> Iterator[None]:
    """Models built inside are whole (not ZeRO-3 partitioned), e.g. frozen encoders that never go to `prepare`.

    transformers builds a model inside `deepspeed.zero.Init` whenever a stage-3 `HfDeepSpeedConfig` is alive
    (`is_deepspeed_zero3_enabled()`). accelerate's `zero3_init_context_manager(enable=False)` does not help: it
    re-creates a stage-3 `HfDeepSpeedConfig`, so a CLIP text encoder built inside it is still partitioned
    (its position embedding has shape [0]). So the config reference is cleared for the duration and put back.
    """
    from transformers.integrations import deepspeed as hf_deepspeed

    saved = hf_deepspeed._hf_deepspeed_config_weak_ref  # the one global transformers reads; no public getter
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = saved


_TRAINING_ONLY = ("optimizer", "scheduler", "gradient_clipping")


def inference_config(
    ds_config: dict[str, Any], *, micro_batch_size: int, world_size: int, hidden_size: int | None, dtype: torch.dtype
) -> dict[str, Any]:
    """A copy of a DeepSpeed config for a forward-only engine, with every `"auto"` value decided.

    The config accelerate builds from a launcher YAML (or a user's file) leaves batch sizes, bucket sizes and
    precision `"auto"` for a Trainer to fill in; DeepSpeed itself refuses them (`'>' not supported between
    'str' and 'int'`). Training-only blocks are dropped, as transformers does for its inference engines.
    """
    config = copy.deepcopy(ds_config)
    for key in _TRAINING_ONLY:
        config.pop(key, None)
    zero = config.setdefault("zero_optimization", {})
    zero.pop("offload_optimizer", None)
    config["train_micro_batch_size_per_gpu"] = micro_batch_size
    config["gradient_accumulation_steps"] = 1
    config["train_batch_size"] = micro_batch_size * world_size
    buckets = {
        "reduce_bucket_size": hidden_size * hidden_size if hidden_size else 5e8,
        "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size) if hidden_size else 5e7,
        "stage3_param_persistence_threshold": 10 * hidden_size if hidden_size else 1e5,
    }
    for key, value in buckets.items():
        if zero.get(key) == "auto":
            zero[key] = value
    for name, wanted in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        if isinstance(config.get(name), dict) and config[name].get("enabled") == "auto":
            config[name]["enabled"] = dtype == wanted
    left = [path for path in _auto_paths(config)]
    if left:
        raise ValueError(
            f"DeepSpeed config values {left} are 'auto' and nothing here can decide them; set them in your "
            "DeepSpeed config file"
        )
    return config


def _auto_paths(config: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _auto_paths(value, f"{prefix}{key}.")
        elif value == "auto":
            yield f"{prefix}{key}"


def is_zero3_partitioned(model: torch.nn.Module) -> bool:
    """Whether `model`'s parameters are ZeRO-3 shards (built under `zero.Init`, or wrapped by a stage-3 engine)."""
    return any(hasattr(parameter, "ds_id") for parameter in model.parameters())


def _active_deepspeed_config() -> dict[str, Any]:
    """The stage-3 config models are being built with: transformers' (a Trainer's arguments), else accelerate's."""
    from accelerate.state import AcceleratorState, is_initialized
    from transformers.integrations import deepspeed_config

    config = deepspeed_config()
    if config is None and is_initialized() and AcceleratorState().deepspeed_plugin is not None:
        config = AcceleratorState().deepspeed_plugin.deepspeed_config
    if config is None:
        raise RuntimeError("the model is ZeRO-3 partitioned but no DeepSpeed config is active in this process")
    return config


def zero3_inference_engine(model: torch.nn.Module, micro_batch_size: int):
    """A forward-only DeepSpeed engine over a ZeRO-3 model: every forward gathers the shards it needs.

    Call on every rank, and `engine.destroy()` when done: it removes the engine's hooks from `model`, which a
    training engine may wrap next.
    """
    import deepspeed

    text_config = getattr(model.config, "text_config", model.config)
    sizes = getattr(text_config, "hidden_sizes", None)
    config = inference_config(
        _active_deepspeed_config(),
        micro_batch_size=micro_batch_size,
        world_size=dist.get_world_size() if dist.is_initialized() else 1,
        hidden_size=max(sizes) if sizes else getattr(text_config, "hidden_size", None),
        dtype=next(model.parameters()).dtype,
    )
    engine, *_ = deepspeed.initialize(model=model, config=config)
    engine.eval()
    return engine


def leave_process_group() -> None:
    """Wait for every rank, then destroy the process group, if one was made.

    A rank that exits while gloo's pair threads are still alive can abort in C++ ("terminate called without an
    active exception", SIGABRT) after its work is done, which the launcher reports as a failed run; NCCL warns
    about leaked resources the same way. Call this at the end of every script `accelerate launch` runs.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
