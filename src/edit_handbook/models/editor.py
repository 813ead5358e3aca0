"""The one InstructPix2Pix pipeline builder for editing: training validation, evaluation and the Space use it.

`editing_pipeline` takes a loaded pipeline (or its modules, e.g. the trainer's frozen parts and current UNet) and
returns a new pipeline object sharing those modules, with the sampler of SuperEdit's Real-Edit protocol (Euler
Ancestral, built from the checkpoint's own scheduler config) and no progress bar; a safety checker the editor
ships with is kept.
`load_editing_pipeline` loads one by name first (a tiny model's name too) on a device in a dtype. The protocol's
settings (50 steps, text guidance 10, image guidance 1.5) are the defaults of every place that edits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch


# SuperEdit's Real-Edit inference settings (its released evaluation script).
PAPER_INFERENCE_STEPS = 50
PAPER_GUIDANCE_SCALE = 10.0
PAPER_IMAGE_GUIDANCE_SCALE = 1.5
PAPER_SEED = 42
Scheduler = Literal["euler_ancestral", "pipeline"]


def editing_pipeline(editor: Any, *, scheduler: Scheduler = "euler_ancestral"):
    """A new pipeline sharing `editor`'s modules (a pipeline or a dict of its components), ready to edit.

    `scheduler`: "euler_ancestral" (the Real-Edit protocol) or "pipeline" (keep the editor's own sampler). An
    editor whose UNet predicts the clean sample (the tutorial editor) keeps its own sampler either way: Euler
    Ancestral implements only epsilon and v-prediction. The pipeline passed in is not modified.
    """
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    components = dict(editor if isinstance(editor, dict) else editor.components)
    for optional in ("safety_checker", "feature_extractor", "image_encoder"):
        components.setdefault(optional, None)
    if scheduler not in ("euler_ancestral", "pipeline"):
        raise ValueError(f"scheduler must be 'euler_ancestral' or 'pipeline', got {scheduler!r}")
    predicts = components["scheduler"].config.get("prediction_type", "epsilon")
    if scheduler == "euler_ancestral" and predicts in ("epsilon", "v_prediction"):
        components["scheduler"] = EulerAncestralDiscreteScheduler.from_config(components["scheduler"].config)
    kind = StableDiffusionInstructPix2PixPipeline if isinstance(editor, dict) else type(editor)
    pipeline = kind(**components, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def inference_dtype(dtype: str | torch.dtype, device: torch.device | str) -> torch.dtype:
    """`auto`: float16 on CUDA, float32 elsewhere; a name like "bfloat16" or a torch dtype as given."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    return getattr(torch, dtype)


def load_editing_pipeline(
    name_or_path: str | Path,
    *,
    device: torch.device | str | None = None,
    dtype: str | torch.dtype = "auto",
    scheduler: Scheduler = "euler_ancestral",
):
    """Load an InstructPix2Pix pipeline (Hub id, folder, or a tiny model's name) onto `device` (default: CUDA when
    there is one) in `dtype`, and make it ready to edit (`editing_pipeline`)."""
    from edit_handbook.models.loading import load_instruct_pix2pix
    from edit_handbook.models.registry import resolve_model

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pipeline = load_instruct_pix2pix(resolve_model(str(name_or_path)), dtype=inference_dtype(dtype, device))
    return editing_pipeline(pipeline, scheduler=scheduler).to(device)
