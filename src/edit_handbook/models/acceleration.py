"""Speed options that must never stop a run: `torch.compile` and Liger kernels, each with a clean fallback.

A speed-up that was asked for but cannot run here (no GPU for Triton kernels, no C++ compiler for
inductor on CPU, a package missing, a compile that fails) is turned off with one logged line saying
why, and the run goes on with the same results, only slower. Combinations known not to work together
are refused at start when asked for explicitly, and turned off (logged) when only the default asked.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

import torch


logger = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    """`Type: first line of the message`, looking through torch.compile's wrapper to the backend's own error."""
    error = getattr(error, "inner_exception", None) or error
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def compile_unavailable_reason(device: torch.device, backend: str | Callable = "inductor") -> str | None:
    """Why `torch.compile(backend=...)` cannot run on `device`, or None: a two-op function is compiled and run."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    try:
        compiled = torch.compile(lambda x: x * 2 + 1, backend=backend, fullgraph=True)
        value = compiled(torch.ones(4, device=device))
        if not torch.equal(value.cpu(), torch.full((4,), 3.0)):
            return f"torch.compile({backend}) computed a wrong value on {device.type}"
    except Exception as error:  # no Triton, no C++ compiler, an unknown backend: all mean "run eagerly"
        return f"torch.compile({backend}) does not run on {device.type} here ({_first_line(error)})"
    return None


def uncompile(module: torch.nn.Module) -> None:
    """Undo `nn.Module.compile`: the module runs eagerly again (its parameters were never touched)."""
    module._compiled_call_impl = None


def compile_in_place(
    module: torch.nn.Module,
    *,
    enabled: bool | None,
    device: torch.device,
    backend: str | Callable = "inductor",
    mode: str | None = None,
    incompatible: str | None = None,
    probe: Callable[[], torch.Tensor] | None = None,
) -> str:
    """Compile `module` in place (`nn.Module.compile`), or leave it eager; returns the line to log.

    In place means the same module object, parameters and state-dict keys: optimisers, EMA, DDP wrapping
    and checkpoints see no difference. `enabled=None` is "auto": on where it pays, on CUDA.
    `incompatible`: why compiling cannot work in this run (e.g. ZeRO-3); an explicit `enabled=True` then
    raises instead of silently training uncompiled. `probe`: a forward returning a loss, run once compiled
    (forward and backward, gradients cleared after) so that a compile failure happens here, where the
    module can still fall back, and not in the middle of training.
    """
    wanted = device.type == "cuda" if enabled is None else enabled
    if not wanted:
        return "torch.compile: off" + (
            f" (auto: on for CUDA only, this run is on {device.type})" if enabled is None else ""
        )
    if incompatible:
        if enabled:
            raise ValueError(f"torch_compile=true cannot be used here: {incompatible}; set torch_compile: false")
        return f"torch.compile: off ({incompatible})"
    reason = compile_unavailable_reason(device, backend)
    if reason:
        logger.warning("torch.compile falls back to eager: %s", reason)
        return f"torch.compile: off, fell back to eager ({reason})"
    module.compile(backend=backend, mode=mode)
    if probe is not None:
        try:
            probe().backward()
        except Exception as error:
            uncompile(module)
            torch._dynamo.reset()
            reason = f"compiling {type(module).__name__} failed ({_first_line(error)})"
            logger.warning("torch.compile falls back to eager: %s", reason)
            return f"torch.compile: off, fell back to eager ({reason})"
        finally:
            module.zero_grad(set_to_none=True)
    return f"torch.compile: on (backend {backend if isinstance(backend, str) else getattr(backend, '__name__', backend)}, mode {mode or 'default'})"


def liger_unavailable_reason(device: torch.device) -> str | None:
    """Why Liger's Triton kernels cannot run here, or None."""
    if device.type != "cuda":
        return f"Liger kernels are Triton GPU kernels and this run is on {device.type}"
    if importlib.util.find_spec("liger_kernel") is None:
        return "the liger-kernel package is not installed (pip install 'edit-handbook[kernels]')"
    try:
        import liger_kernel.transformers  # noqa: F401  (imports triton)
    except Exception as error:
        return f"liger-kernel does not import ({_first_line(error)})"
    return None


def training_device(args: Any) -> torch.device:
    """The device a `transformers.TrainingArguments` run trains on, without touching its lazy state."""
    if getattr(args, "use_cpu", False) or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def resolve_trainer_speedups(args: Any, *, zero3: bool | None = None) -> list[str]:
    """Turn off, with a logged reason, the TRL/transformers speed options of `args` that cannot run here.

    `use_liger_kernel` (Liger's RMSNorm, RoPE, SwiGLU kernels patched into the model; TRL keeps its own
    fused, chunked LM-head log-probs in place of Liger's fused linear cross-entropy) needs a CUDA device and
    the `liger-kernel` package. `torch_compile` needs a working compile backend and is refused under
    ZeRO-3 (an explicit request raises; `zero3=None` asks transformers' DeepSpeed integration). Returns the
    lines it logged, in order.
    """
    if zero3 is None:
        from transformers.integrations import is_deepspeed_zero3_enabled

        zero3 = is_deepspeed_zero3_enabled()
    lines = []
    device = training_device(args)
    if getattr(args, "use_liger_kernel", False):
        reason = liger_unavailable_reason(device)
        if reason:
            args.use_liger_kernel = False
            lines.append(f"use_liger_kernel: off, fell back to the eager layers ({reason})")
        else:
            lines.append("use_liger_kernel: on (Liger RMSNorm, RoPE, SwiGLU; TRL's fused LM-head log-probs)")
    if getattr(args, "torch_compile", False):
        if zero3:
            raise ValueError(
                "torch_compile=true is not supported with DeepSpeed ZeRO-3 in these recipes (parameters are "
                "gathered inside the forward); set torch_compile: false or use accelerate_configs/zero2.yaml"
            )
        reason = compile_unavailable_reason(device, getattr(args, "torch_compile_backend", None) or "inductor")
        if reason:  # the Trainer builds accelerate's dynamo plugin from the backend: clear all three
            args.torch_compile, args.torch_compile_backend, args.torch_compile_mode = False, None, None
            lines.append(f"torch_compile: off, fell back to eager ({reason})")
        else:
            lines.append("torch_compile: on")
    for line in lines:
        (logger.warning if "fell back" in line else logger.info)(line)
    return lines


def apply_liger_kernels(model: torch.nn.Module, args: Any) -> str | None:
    """Patch Liger's layer kernels into `model` now, so that a model Liger cannot patch falls back here.

    The Trainer applies the same patch when training starts, where a failure would end the run; applying
    it first (it is idempotent) turns `use_liger_kernel` off with the reason instead. Liger's fused linear
    cross-entropy stays off: TRL computes the log-probs with its own fused, chunked LM head. Call after
    `resolve_trainer_speedups` (which has already turned it off where it cannot run at all).
    """
    if not getattr(args, "use_liger_kernel", False):
        return None
    try:
        from transformers.integrations.liger import apply_liger_kernel

        apply_liger_kernel(model, {**(args.liger_kernel_config or {}), "fused_linear_cross_entropy": False})
    except Exception as error:
        args.use_liger_kernel = False
        line = (
            f"use_liger_kernel: off, fell back to the eager layers (Liger cannot patch {type(model).__name__}: "
            f"{_first_line(error)})"
        )
        logger.warning(line)
        return line
    line = f"use_liger_kernel: Liger layer kernels patched into {type(model).__name__}"
    logger.info(line)
    return line
