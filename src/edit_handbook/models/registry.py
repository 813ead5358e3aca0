"""Named tiny models: a recipe or a command line says `tiny:qwen3-vl`, and the folder is built (and cached) on
first use, since no such checkpoint exists on the Hub.

The tiny random models below are named here. A builder that needs code above the models layer registers its
name from its own module (`editcaption.smoke_model` registers the smoke model, `edit_handbook.fixtures` the
trained smoke captioner), so this module never imports upward.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from edit_handbook.models.loading import check_model_location
from edit_handbook.models.tiny import tiny_instruct_pix2pix, tiny_qwen3_vl


TINY_QWEN3_VL = "tiny:qwen3-vl"
TINY_INSTRUCT_PIX2PIX = "tiny:instruct-pix2pix"

_BUILDERS: dict[str, Callable[[], Path]] = {
    TINY_QWEN3_VL: tiny_qwen3_vl,
    TINY_INSTRUCT_PIX2PIX: tiny_instruct_pix2pix,
}


def register_tiny_model(name: str, builder: Callable[[], Path]) -> None:
    """Name `builder` (no arguments, returns the model's folder); registering the same builder again is a no-op."""
    if _BUILDERS.get(name, builder) is not builder:
        raise ValueError(f"tiny model name {name!r} is already taken by {_BUILDERS[name]}")
    _BUILDERS[name] = builder


def tiny_model_names() -> list[str]:
    return sorted(_BUILDERS)


def resolve_model(name_or_path: str) -> str:
    """A local folder or Hub id unchanged; a tiny model's name built on first use and replaced by its folder."""
    name_or_path = str(name_or_path)
    if os.path.exists(name_or_path):
        return name_or_path
    if name_or_path in _BUILDERS:
        return str(_BUILDERS[name_or_path]())
    if name_or_path.startswith("tiny:"):
        raise ValueError(f"unknown tiny model {name_or_path!r}; the named tiny models are {tiny_model_names()}")
    check_model_location(name_or_path)  # a local output not written yet: name the recipe that writes it
    return name_or_path
