"""The Space's captioner and editor: loaded on first use, on the best device there is, reporting failure plainly.

Nothing loads at start-up, so the page comes up at once and a model that cannot be loaded (offline, a missing or
private repository) only disables the tabs that need it: their next click says which model failed, why, and
what to set instead, while the other tabs keep working. A failed load is retried on the next click.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import torch
from PIL import Image

from edit_handbook.models.registry import resolve_model
from edit_handbook.space.settings import CAPTIONER_ENV, EDITOR_ENV, TINY_CAPTIONER


T = TypeVar("T")
# Each image becomes at most ~580 vision tokens in a Qwen3-VL (32 px per merged token): enough for an edit,
# and bounded so a large upload cannot make one request slow for everyone queued behind it.
CAPTIONER_MAX_PIXELS = 768 * 768
_ERROR_CHARS = 300


def on_zero_gpu() -> bool:
    """Hugging Face ZeroGPU hardware (a GPU attached only while a `spaces.GPU` function runs)."""
    return bool(os.environ.get("SPACES_ZERO_GPU"))


def pick_device() -> tuple[torch.device, torch.dtype]:
    """CUDA in bfloat16 (float16 where bfloat16 is unsupported) when there is a GPU, else the CPU in float32."""
    if on_zero_gpu():
        return torch.device("cuda"), torch.bfloat16
    if torch.cuda.is_available():
        return torch.device("cuda"), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.device("cpu"), torch.float32


class ModelUnavailable(RuntimeError):
    """A model could not be loaded; the message says which, why, and what to do, in words for the user."""


def unavailable_message(role: str, name: str, env: str, error: BaseException) -> str:
    detail = f"{type(error).__name__}: {error}".strip()
    if len(detail) > _ERROR_CHARS:
        detail = detail[:_ERROR_CHARS] + " ..."
    return (
        f"The {role} `{name}` could not be loaded, so this tab cannot run ({detail}). "
        f"The other tabs still work. Set {env} to a local folder or a Hub model you can reach "
        "(no network here? download it first), or start the app with --tiny to try the tiny local models."
    )


class LazyModel(Generic[T]):
    """`get()` loads with `loader` once (thread-safe) and returns the same object afterwards."""

    def __init__(self, role: str, name: str, env: str, loader: Callable[[], T]) -> None:
        self.role, self.name, self.env = role, name, env
        self._loader = loader
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                try:
                    self._value = self._loader()
                except Exception as error:  # any failure to load means the same thing to the user
                    raise ModelUnavailable(unavailable_message(self.role, self.name, self.env, error)) from error
            return self._value


def captioner_path(name: str) -> str:
    """The tiny name is the shipped captioner that sees (`fixtures.SEE_CAPTIONER`); anything else is unchanged."""
    return resolve_model(name)


def load_captioner(name: str):
    """(model, processor) on the best device, in eval mode."""
    from edit_handbook.models import load_vlm

    device, dtype = pick_device()
    pixel_bound = {} if name == TINY_CAPTIONER else {"max_pixels": CAPTIONER_MAX_PIXELS}
    model, processor = load_vlm(captioner_path(name), dtype=dtype, **pixel_bound)
    return model.to(device).eval(), processor


def load_editor_pipeline(name: str):
    """The InstructPix2Pix pipeline with Euler Ancestral (the Real-Edit inference scheduler), on the best device."""
    from edit_handbook.models.editor import load_editing_pipeline

    device, dtype = pick_device()
    return load_editing_pipeline(name, device=device, dtype=dtype)


def lazy_captioner(name: str) -> LazyModel:
    return LazyModel("captioner", name, CAPTIONER_ENV, lambda: load_captioner(name))


def lazy_editor(name: str) -> LazyModel:
    return LazyModel("editor", name, EDITOR_ENV, lambda: load_editor_pipeline(name))


def size_multiple(pipeline) -> int:
    """Image sides must be multiples of this: the VAE's downsampling times the UNet's (64 for SD1.5)."""
    return pipeline.vae_scale_factor * 2 ** (len(pipeline.unet.config.block_out_channels) - 1)


def working_size(size: tuple[int, int], resolution: int, multiple: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `resolution`, each side rounded to a multiple of `multiple`."""
    width, height = size
    scale = resolution / max(width, height)
    return tuple(max(multiple, round(side * scale / multiple) * multiple) for side in (width, height))


def run_edit(
    pipeline,
    image: Image.Image,
    instruction: str,
    *,
    resolution: int,
    steps: int,
    text_guidance: float,
    image_guidance: float,
    seed: int,
) -> Image.Image:
    """One edit at the working size; the seed drives a CPU generator, so CPU and GPU draw the same noise."""
    source = image.resize(working_size(image.size, resolution, size_multiple(pipeline)), Image.Resampling.LANCZOS)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    with torch.inference_mode():
        return pipeline(
            instruction,
            image=source,
            num_inference_steps=int(steps),
            guidance_scale=float(text_guidance),
            image_guidance_scale=float(image_guidance),
            generator=generator,
        ).images[0]
