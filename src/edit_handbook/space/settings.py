"""What the Space runs: model ids from the environment (with Hub defaults), the tiny switch, input limits.

Every setting is read once, at start-up, from environment variables, so a Space's "Variables" page (or a
shell) configures it without editing code. `--tiny` / `EDIT_HANDBOOK_TINY=1` swaps both models for the tiny
local fixtures: the way the tests and a laptop without weights run the app.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from edit_handbook.fixtures import SEE_CAPTIONER as TINY_CAPTIONER  # the shipped captioner that sees
from edit_handbook.fixtures import TUTORIAL_EDITOR as TINY_EDITOR  # the shipped tutorial editor (32 px edits)
from edit_handbook.models.editor import (
    PAPER_GUIDANCE_SCALE,
    PAPER_IMAGE_GUIDANCE_SCALE,
    PAPER_INFERENCE_STEPS,
    PAPER_SEED,
)


CAPTIONER_ENV = "EDIT_HANDBOOK_CAPTIONER"
EDITOR_ENV = "EDIT_HANDBOOK_EDITOR"
TINY_ENV = "EDIT_HANDBOOK_TINY"
# Where the "Rectify" tab gets its wrong instructions: the captioner by default, or any OpenAI-compatible server
# (SuperEdit used GPT-4o); its key, if any, comes from $OPENAI_API_KEY.
NEGATIVES_URL_ENV = "EDIT_HANDBOOK_NEGATIVES_URL"
NEGATIVES_MODEL_ENV = "EDIT_HANDBOOK_NEGATIVES_MODEL"

# Until this project's own checkpoints are on the Hub: the base VLM EditCaption fine-tunes (it follows the same
# prompts, less accurately) and the original InstructPix2Pix editor SuperEdit starts from.
DEFAULT_CAPTIONER = "Qwen/Qwen3-VL-8B-Instruct"
DEFAULT_EDITOR = "timbrooks/instruct-pix2pix"

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class InputLimits:
    """What an upload may be; anything else is refused with a message that says how to fix it."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    formats: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "BMP")
    max_instruction_chars: int = 500


@dataclass(frozen=True)
class EditDefaults:
    """The editor's controls start at the Real-Edit inference settings of the SuperEdit release (Euler Ancestral)."""

    steps: int = PAPER_INFERENCE_STEPS
    text_guidance: float = PAPER_GUIDANCE_SCALE
    image_guidance: float = PAPER_IMAGE_GUIDANCE_SCALE
    seed: int = PAPER_SEED


@dataclass(frozen=True)
class SpaceSettings:
    captioner: str = DEFAULT_CAPTIONER
    editor: str = DEFAULT_EDITOR
    negatives_url: str | None = None
    negatives_model: str | None = None
    tiny: bool = False
    # Longest side the editor works at: SD1.5's 512 px; the tiny (tutorial) editor's 32 px.
    edit_resolution: int = 512
    limits: InputLimits = field(default_factory=InputLimits)
    edit_defaults: EditDefaults = field(default_factory=EditDefaults)


def _value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in _TRUE


def resolve_settings(env: Mapping[str, str] | None = None, *, tiny: bool = False) -> SpaceSettings:
    """Settings from `env` (default: the process environment); `tiny` (the --tiny flag) or $EDIT_HANDBOOK_TINY
    runs both models on the local fixtures, whatever the model variables say."""
    env = os.environ if env is None else env
    negatives_url = _value(env, NEGATIVES_URL_ENV)
    negatives_model = _value(env, NEGATIVES_MODEL_ENV)
    if negatives_url and not negatives_model:
        raise ValueError(
            f"{NEGATIVES_URL_ENV} is set but {NEGATIVES_MODEL_ENV} is not: name the model the server should use"
        )
    remote = {"negatives_url": negatives_url, "negatives_model": negatives_model}
    if tiny or env_flag(env, TINY_ENV):
        return SpaceSettings(captioner=TINY_CAPTIONER, editor=TINY_EDITOR, tiny=True, edit_resolution=32, **remote)
    return SpaceSettings(
        captioner=_value(env, CAPTIONER_ENV) or DEFAULT_CAPTIONER,
        editor=_value(env, EDITOR_ENV) or DEFAULT_EDITOR,
        **remote,
    )
