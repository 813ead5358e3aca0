"""What each tab of the Space does, without the UI: check the inputs, get the model, run it.

`app.py` only lays out widgets and turns `InputError` into a `gr.Error` pop-up and `ModelUnavailable` into a
plain message in the tab; everything here is importable and tested without a browser.
"""

from __future__ import annotations

import os
from functools import cached_property

from PIL import Image

from edit_handbook.space.inputs import InputError, check_instruction, load_image
from edit_handbook.space.models import ModelUnavailable, lazy_captioner, lazy_editor, run_edit
from edit_handbook.space.rectify import Rectified, rectify_pair
from edit_handbook.space.settings import SpaceSettings


SOURCE, EDITED, INSTRUCTION = "Source image", "Edited image", "Instruction"
MAX_STEPS = 100
GUIDANCE_RANGE = (0.0, 30.0)
MAX_NEGATIVES = 8


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _in_range(name: str, value: float, low: float, high: float) -> float:
    if value is None or not low <= float(value) <= high:
        raise InputError(
            f"{name}: {value!r} is outside {_number(low)} .. {_number(high)}; pick a value in that range."
        )
    return float(value)


class SpaceService:
    """The three tabs' actions over lazily loaded models; each raises `InputError` or `ModelUnavailable`."""

    def __init__(self, settings: SpaceSettings) -> None:
        self.settings = settings
        self.captioner = lazy_captioner(settings.captioner)
        self.editor = lazy_editor(settings.editor)

    def preload(self) -> list[str]:
        """Load both models now; the messages of those that fail (their tabs will say so again when used).

        On ZeroGPU this must happen at start-up: a `spaces.GPU` call runs in a forked worker, so a model loaded
        inside one would be loaded again on every call.
        """
        failures = []
        for model in (self.captioner, self.editor):
            try:
                model.get()
            except ModelUnavailable as error:
                failures.append(str(error))
        return failures

    def _pair(self, source_path, target_path) -> tuple[Image.Image, Image.Image]:
        limits = self.settings.limits
        return load_image(source_path, SOURCE, limits), load_image(target_path, EDITED, limits)

    def describe(self, source_path: str | os.PathLike, target_path: str | os.PathLike) -> str:
        """The instruction that turns the source image into the edited one (EditCaption's "caption" task)."""
        from edit_handbook.editcaption.inference import describe_edit

        source, target = self._pair(source_path, target_path)
        model, processor = self.captioner.get()
        return describe_edit(model, processor, [source], [target], task="caption")[0]

    def edit(
        self,
        image_path: str | os.PathLike,
        instruction: str,
        *,
        steps: int,
        text_guidance: float,
        image_guidance: float,
        seed: int,
    ) -> Image.Image:
        """The editor's result at the working resolution (longest side `settings.edit_resolution`)."""
        image = load_image(image_path, SOURCE, self.settings.limits)
        instruction = check_instruction(instruction, INSTRUCTION, self.settings.limits)
        steps = int(_in_range("Steps", steps, 1, MAX_STEPS))
        text_guidance = _in_range("Text guidance", text_guidance, *GUIDANCE_RANGE)
        image_guidance = _in_range("Image guidance", image_guidance, *GUIDANCE_RANGE)
        seed = int(_in_range("Seed", seed, 0, 2**32 - 1))
        return run_edit(
            self.editor.get(),
            image,
            instruction,
            resolution=self.settings.edit_resolution,
            steps=steps,
            text_guidance=text_guidance,
            image_guidance=image_guidance,
            seed=seed,
        )

    @cached_property
    def clip_tokenizer(self):
        """CLIP's real tokenizer (offline, from open-clip-torch's vocabulary): it measures the 77-token budget."""
        from edit_handbook.models import load_clip_tokenizer

        return load_clip_tokenizer()

    def _negatives_writer(self, captioner_backend):
        if not self.settings.negatives_url:
            return captioner_backend
        from edit_handbook.synth.backends import HTTPBackend

        return HTTPBackend(self.settings.negatives_url, self.settings.negatives_model)

    def rectify(
        self, source_path: str | os.PathLike, target_path: str | os.PathLike, instruction: str, num_negatives: int = 4
    ) -> Rectified:
        """SuperEdit's rectified instruction for the pair and up to `num_negatives` single-attribute negatives."""
        from edit_handbook.synth.backends import LocalBackend

        source, target = self._pair(source_path, target_path)
        instruction = check_instruction(instruction, "Noisy instruction", self.settings.limits)
        num_negatives = int(_in_range("Negatives", num_negatives, 1, MAX_NEGATIVES))
        model, processor = self.captioner.get()
        backend = LocalBackend(model, processor, model_name=self.settings.captioner, batch_size=1, prefetch=False)
        return rectify_pair(
            source,
            target,
            instruction,
            rectifier=backend,
            negatives_writer=self._negatives_writer(backend),
            clip_tokenizer=self.clip_tokenizer,
            num_negatives=num_negatives,
        )
