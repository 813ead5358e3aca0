"""The demo Space's logic (`spaces/edit-handbook/app.py` only builds the UI on top of it)."""

from edit_handbook.space.examples import ExamplePair, write_examples
from edit_handbook.space.inputs import InputError
from edit_handbook.space.models import ModelUnavailable, on_zero_gpu
from edit_handbook.space.service import SpaceService
from edit_handbook.space.settings import SpaceSettings, resolve_settings
from edit_handbook.space.zerogpu import gpu_task


__all__ = [
    "ExamplePair",
    "InputError",
    "ModelUnavailable",
    "SpaceService",
    "SpaceSettings",
    "gpu_task",
    "on_zero_gpu",
    "resolve_settings",
    "write_examples",
]
