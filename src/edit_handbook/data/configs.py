"""Which edit pairs a script loads, and the embedded synthetic generator's settings.

Parsed by `trl.TrlParser` from a recipe YAML plus CLI flags; every field's `help` is its CLI documentation.
Field names must not clash with the TRL configs they are parsed beside (SFTConfig, DPOConfig, ModelConfig).
argparse refuses duplicate flags, hence the `dataset_` prefixes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from trl import ScriptArguments

from .schema import DEFAULT_MAX_PIXELS, SYNTHETIC


@dataclass
class DataArguments(ScriptArguments):
    """Which edit pairs to load and how strictly to check them (see `edit_handbook.data.loading.load_edit_pairs`).

    Extends TRL's ScriptArguments, so `dataset_name`, `dataset_config`, `dataset_train_split`,
    `dataset_test_split` and `dataset_streaming` keep their TRL meaning; the first and third
    default to the preset's Hub id and split.
    """

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Hub id, local path (a .jsonl/.csv manifest, a .parquet file or folder, a save_to_disk folder) "
            "or 'synthetic'. Unset: the preset's Hub id, or 'synthetic' when there is no preset."
        },
    )
    dataset_train_split: str | None = field(
        default=None, metadata={"help": "Split to train on. Unset: the preset's split, else 'train'."}
    )
    dataset_preset: str | None = field(
        default=None,
        metadata={
            "help": "Named column preset: superedit-40k, instructpix2pix, instructpix2pix-1000, magicbrush, hq-edit, "
            "ultraedit, bytemorph-bench (see edit_handbook.data.presets)."
        },
    )
    dataset_column_mapping: dict[str, str] | str | None = field(
        default=None,
        metadata={
            "help": 'Canonical column -> your column, e.g. \'{"source_image": "src", "instruction": "prompt"}\' '
            "(a JSON string on the command line, a mapping in YAML); overrides the preset's entries."
        },
    )
    dataset_kind: Literal["edit", "preference"] = field(
        default="edit",
        metadata={"help": "'edit' (image pair + instruction) or 'preference' (chosen/rejected + error labels)."},
    )
    dataset_validation: Literal["full", "sample", "off"] = field(
        default="full",
        metadata={
            "help": "Check every row once at load ('full'), a seeded sample of dataset_validation_sample_size rows "
            "('sample'), or only the columns ('off')."
        },
    )
    dataset_validation_sample_size: int = field(
        default=1000, metadata={"help": "Rows checked when dataset_validation='sample'."}
    )
    dataset_on_error: Literal["raise", "skip"] = field(
        default="raise",
        metadata={"help": "On a bad row: 'raise' (fail the load, naming row, column and fix) or 'skip' (drop it)."},
    )
    dataset_validation_num_proc: int | None = field(
        default=None, metadata={"help": "Processes that validate rows in parallel (decoding every image once)."}
    )
    dataset_max_pixels: int = field(
        default=DEFAULT_MAX_PIXELS,
        metadata={"help": "Images with more pixels than this are bad rows (they would exhaust memory downstream)."},
    )
    dataset_seed: int = field(default=0, metadata={"help": "Seeds the validation sample and the synthetic set."})
    dataset_synthetic_pairs: int = field(
        default=256, metadata={"help": "Number of pairs when dataset_name='synthetic'."}
    )
    dataset_synthetic_edit_types: list[str] | None = field(
        default=None,
        metadata={"help": "With dataset_name='synthetic': only these edit types (e.g. move recolour). Unset: all."},
    )
    dataset_synthetic_image_size: int = field(
        default=256, metadata={"help": "With dataset_name='synthetic': side of the generated images, in pixels."}
    )
    dataset_allow_outside_paths: bool = field(
        default=False,
        metadata={
            "help": "Let a manifest's image paths leave its folder (absolute paths, '../', symlinks). Off: such rows "
            "are bad rows, so a manifest from elsewhere cannot make the loader read (or push upload) other files."
        },
    )

    def __post_init__(self) -> None:
        self.dataset_column_mapping = parse_column_mapping(self.dataset_column_mapping)
        positive = {
            "dataset_max_pixels": self.dataset_max_pixels,
            "dataset_validation_sample_size": self.dataset_validation_sample_size,
            "dataset_synthetic_pairs": self.dataset_synthetic_pairs,
            "dataset_synthetic_image_size": self.dataset_synthetic_image_size,
            "dataset_validation_num_proc": self.dataset_validation_num_proc,
        }
        for name, value in positive.items():
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be a positive integer, got {value}")

    def load_kwargs(self, split: str | None = None) -> dict[str, Any]:
        """Keyword arguments of `load_edit_pairs` for `split` (default: the train split)."""
        return {
            "source": self.dataset_name or (None if self.dataset_preset else SYNTHETIC),
            "preset": self.dataset_preset,
            "column_mapping": self.dataset_column_mapping,
            "split": split or self.dataset_train_split,
            "kind": self.dataset_kind,
            "validation": self.dataset_validation,
            "sample_size": self.dataset_validation_sample_size,
            "on_error": self.dataset_on_error,
            "num_proc": self.dataset_validation_num_proc,
            "max_pixels": self.dataset_max_pixels,
            "streaming": self.dataset_streaming,
            "seed": self.dataset_seed,
            "config_name": self.dataset_config,
            "synthetic_pairs": self.dataset_synthetic_pairs,
            "synthetic_edit_types": tuple(self.dataset_synthetic_edit_types or ()) or None,
            "synthetic_image_size": self.dataset_synthetic_image_size,
            "allow_outside_paths": self.dataset_allow_outside_paths,
        }


def parse_column_mapping(value: dict[str, str] | str | None) -> dict[str, str] | None:
    """`--dataset_column_mapping` as a dict (a JSON string on the command line); ValueError saying how to write it."""
    example = '\'{"source_image": "src", "instruction": "prompt"}\''
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"--dataset_column_mapping is not valid JSON ({error.msg} at character {error.pos}): {value!r}; "
                f"write it as a JSON object in single quotes, e.g. {example}"
            ) from None
    if value is not None and (
        not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise ValueError(
            f"--dataset_column_mapping must map canonical column names to your column names, got {value!r}; "
            f"e.g. {example}"
        )
    return value


@dataclass
class SyntheticDataArguments:
    """The embedded synthetic edit pairs (`edit-handbook generate`; see `edit_handbook.data.synthetic`)."""

    output_dir: str = field(default="outputs/synthetic", metadata={"help": "Folder the dataset, card and grid go to."})
    num_pairs: int = field(default=1000, metadata={"help": "Number of pairs to generate."})
    seed: int = field(default=0, metadata={"help": "Pairs are a pure function of (seed, row index)."})
    image_size: int = field(default=256, metadata={"help": "Side of the square images, in pixels."})
    edit_types: list[str] | None = field(
        default=None, metadata={"help": "Edit types to cycle through (default: all twelve)."}
    )
    output_format: Literal["disk", "parquet"] = field(
        default="disk", metadata={"help": "'disk' (datasets.save_to_disk) or 'parquet' (one file, for the Hub)."}
    )
    num_proc: int | None = field(default=None, metadata={"help": "Processes that render pairs in parallel."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the dataset (with its card) to the Hub."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo id for push_to_hub."})
