"""Named presets: how public editing datasets' columns map onto the canonical schema.

A preset is data, not code: the loader renames `columns` (canonical name -> the dataset's
column), drops `ignored` columns, and reads `split` when the caller names none. Captions of
the source or target image are dropped on purpose so nobody mistakes them for instructions;
every other column the mapping does not name is kept as it is.

Column names were checked against each dataset card (see each description); where a card
could not be checked the description says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from . import schema


CANONICAL_COLUMNS = tuple(
    dict.fromkeys((*schema.REQUIRED_EDIT_COLUMNS, *schema.OPTIONAL_EDIT_COLUMNS, *schema.REQUIRED_PREFERENCE_COLUMNS))
)


@dataclass(frozen=True)
class DatasetPreset:
    """Where a public dataset lives and which of its columns holds each canonical field."""

    name: str
    hub_id: str
    columns: Mapping[str, str]
    description: str
    split: str = "train"
    ignored: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_column_mapping(self.columns)
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))


def check_column_mapping(column_mapping: Mapping[str, str]) -> None:
    """A mapping goes canonical name -> source column; a ValueError names keys that are not canonical."""
    unknown = sorted(set(column_mapping) - set(CANONICAL_COLUMNS))
    if unknown:
        raise ValueError(
            f"column_mapping keys must be canonical column names, got {unknown}; canonical names: "
            f"{', '.join(CANONICAL_COLUMNS)} (the mapping goes canonical name -> your column)"
        )


_PRESETS = (
    DatasetPreset(
        name="superedit-40k",
        hub_id="limingcv/SuperEdit-40K",
        columns={
            schema.SOURCE_IMAGE: "input_image",
            schema.TARGET_IMAGE: "edited_image",
            schema.INSTRUCTION: "edit_prompts",
            schema.RECTIFIED: "edit_prompts",
            schema.NEGATIVES: "neg_prompts",
        },
        description=(
            "SuperEdit-40K (Li et al., 2025): `edit_prompts` already holds the VLM-rectified instruction, so it "
            "fills both `instruction` and `rectified_instruction`; `neg_prompts` holds the contrastive negatives. "
            "Column names from the reference training script (bytedance/SuperEdit train_sd15.sh), which accepts "
            "either a string or a list in both text columns: a list in `edit_prompts` keeps its first item, a "
            "single `neg_prompts` string becomes a one-item list."
        ),
    ),
    DatasetPreset(
        name="instructpix2pix",
        hub_id="timbrooks/instructpix2pix-clip-filtered",
        columns={
            schema.SOURCE_IMAGE: "original_image",
            schema.TARGET_IMAGE: "edited_image",
            schema.INSTRUCTION: "edit_prompt",
        },
        ignored=("original_prompt", "edited_prompt"),
        description=(
            "InstructPix2Pix CLIP-filtered (Brooks et al., 2023), 313k pairs. Its card lists `original_image` "
            "(not `input_image`), `edited_image` and `edit_prompt`; the two image captions are dropped."
        ),
    ),
    DatasetPreset(
        name="instructpix2pix-1000",
        hub_id="fusing/instructpix2pix-1000-samples",
        columns={
            schema.SOURCE_IMAGE: "input_image",
            schema.TARGET_IMAGE: "edited_image",
            schema.INSTRUCTION: "edit_prompt",
        },
        description=(
            "The 1,000-pair InstructPix2Pix sample the diffusers example trains on (`input_image`, `edited_image`, "
            "`edit_prompt` per its card): a quick real-data smoke run."
        ),
    ),
    DatasetPreset(
        name="magicbrush",
        hub_id="osunlp/MagicBrush",
        columns={
            schema.SOURCE_IMAGE: "source_img",
            schema.TARGET_IMAGE: "target_img",
            schema.INSTRUCTION: "instruction",
        },
        description=(
            "MagicBrush (Zhang et al., 2023), human-annotated, splits `train` and `dev`. Multi-turn: for "
            "`turn_index` >= 2 the source is the previous turn's output. `img_id` is kept but not used as `id` "
            "because turns of one image share it; `mask_img` is kept for mask-aware editors."
        ),
    ),
    DatasetPreset(
        name="hq-edit",
        hub_id="UCSC-VLAA/HQ-Edit",
        columns={
            schema.SOURCE_IMAGE: "input_image",
            schema.TARGET_IMAGE: "output_image",
            schema.INSTRUCTION: "edit",
        },
        ignored=("input", "output"),
        description=(
            "HQ-Edit (Hui et al., 2024), GPT-4V + DALL-E 3 pairs. Columns per its card; `inverse_edit` (the "
            "instruction from output back to input) is kept, the image descriptions `input`/`output` are dropped."
        ),
    ),
    DatasetPreset(
        name="ultraedit",
        hub_id="BleachNick/UltraEdit",
        split="FreeForm",
        columns={
            schema.SOURCE_IMAGE: "source_image",
            schema.TARGET_IMAGE: "edited_image",
            schema.INSTRUCTION: "edit_prompt",
        },
        ignored=("source_caption", "target_caption"),
        description=(
            "UltraEdit (Zhao et al., 2024), about 4M pairs, split `FreeForm` (region-based edits live in another "
            "split). `source_image`, `edit_prompt` and the `FreeForm` split are confirmed by public loaders of the "
            "dataset; `edited_image` is assumed from the same loaders, not from the card, which could not be read."
        ),
    ),
    DatasetPreset(
        name="bytemorph-bench",
        hub_id="ByteDance-Seed/BM-Bench",
        split="test",
        columns={
            schema.SOURCE_IMAGE: "src_img",
            schema.TARGET_IMAGE: "tgt_img",
            schema.INSTRUCTION: "edit_prompt",
            schema.EDIT_TYPE: "edit_type",
        },
        ignored=("src_img_caption", "tgt_img_caption"),
        description=(
            "ByteMorph-Bench (non-rigid motion edits: camera zoom/motion, object and human motion, interaction), "
            "613 pairs, split `test`. Columns per its card; `edit_prompt_rewrite_instruction` (an LLM rewrite, "
            "not checked against the images) is kept as an extra column, not used as the rectified instruction."
        ),
    ),
)

PRESETS: Mapping[str, DatasetPreset] = MappingProxyType({preset.name: preset for preset in _PRESETS})


def get_preset(name: str) -> DatasetPreset:
    """The preset called `name` (case-insensitive); a ValueError lists the known ones."""
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset preset {name!r}; known presets: {', '.join(PRESETS)}") from None
