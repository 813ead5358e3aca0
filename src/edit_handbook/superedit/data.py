"""Training rows for SuperEdit: checked texts, a table of unique prompts, images at the training size.

Every prompt (instructions, negatives and the empty prompt) is stored once in `TextTable`, and rows
refer to prompts by index, so the same batch can be embedded live or looked up in the embedding
cache. The one negative an example gets in an epoch is a pure function of (seed, epoch, row), hence
reproducible across runs, resumes and world sizes. Images are resized and centre-cropped, never
flipped: a flip turns "left" into "right" and makes the instruction wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import datasets
import numpy as np
import torch
from PIL import Image

from ..data import schema


NULL_PROMPT = ""


@dataclass
class TextTable:
    """Unique prompts; index 0 is the empty prompt used where conditioning dropout removes the text."""

    texts: list[str]

    @classmethod
    def build(cls, positives: Sequence[str], negatives: Sequence[Sequence[str]]) -> TextTable:
        ordered = dict.fromkeys([NULL_PROMPT, *positives, *(text for row in negatives for text in row)])
        return cls(list(ordered))

    def index(self) -> dict[str, int]:
        return {text: position for position, text in enumerate(self.texts)}


@dataclass
class TrainingRows:
    """What the loop needs from each row besides its images: id, instruction and negatives as text indices."""

    ids: list[str]
    positive: np.ndarray  # [N] index of the instruction in `table`
    negatives: list[np.ndarray]  # per row: indices of its wrong instructions
    table: TextTable

    def __len__(self) -> int:
        return len(self.ids)


def _text_error(row: int, row_id: str, column: str, problem: str, fix: str) -> ValueError:
    return ValueError(f"row {row} (id {row_id!r}), column {column!r}: {problem}. Fix: {fix}")


def training_rows(dataset: datasets.Dataset, instruction_column: str, negatives_column: str) -> TrainingRows:
    """Read and check the texts (no image is decoded); a bad row raises an error naming row, column and fix."""
    for column in (instruction_column, negatives_column):
        if column not in dataset.column_names:
            raise ValueError(
                f"the training data has no column {column!r} (columns: {', '.join(dataset.column_names)}). Fix: map "
                f"one onto it (column_mapping) or set instruction_column / negatives_column to an existing column."
            )
    columns = [instruction_column, negatives_column] + ([schema.ID] if schema.ID in dataset.column_names else [])
    texts = dataset.select_columns(columns).to_dict()
    ids = texts.get(schema.ID) or [f"row-{index}" for index in range(len(dataset))]
    positives, negatives = texts[instruction_column], texts[negatives_column]
    for row, (row_id, positive, wrong) in enumerate(zip(ids, positives, negatives)):
        if not isinstance(positive, str) or not positive.strip():
            raise _text_error(
                row, row_id, instruction_column, f"empty instruction {positive!r}", "drop or fill the row"
            )
        if not wrong or any(not isinstance(text, str) or not text.strip() for text in wrong):
            raise _text_error(
                row,
                row_id,
                negatives_column,
                f"needs at least one non-empty wrong instruction, got {wrong!r}",
                "synthesize negatives (`edit-handbook synthesize`) or drop the row",
            )
    if len(set(ids)) != len(ids):
        raise ValueError(f"column {schema.ID!r} has duplicate ids; the caches key rows by id. Fix: make ids unique.")
    table = TextTable.build(positives, negatives)
    lookup = table.index()
    return TrainingRows(
        ids=list(ids),
        positive=np.array([lookup[text] for text in positives], dtype=np.int64),
        negatives=[np.array([lookup[text] for text in wrong], dtype=np.int64) for wrong in negatives],
        table=table,
    )


def negative_choice(seed: int, epoch: int, row: int, count: int) -> int:
    """Which of a row's `count` negatives it uses in `epoch`: uniform, and the same on every run and rank."""
    return int(np.random.default_rng([seed, epoch, row]).integers(count))


def image_to_tensor(image: Image.Image, resolution: int) -> torch.Tensor:
    """RGB image -> [3, resolution, resolution] in [-1, 1]: shorter side resized, centre crop, no flip."""
    image = image.convert("RGB")
    scale = resolution / min(image.size)
    size = (max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (image.width - resolution) // 2, (image.height - resolution) // 2
    image = image.crop((left, top, left + resolution, top + resolution))
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class SuperEditDataset(torch.utils.data.Dataset):
    """Rows as tensors: latent moments from the cache, or pixels to encode live; prompts as text indices.

    Call `set_epoch` before iterating an epoch: it picks each row's negative for that epoch.
    """

    def __init__(
        self,
        rows: TrainingRows,
        *,
        seed: int,
        images: datasets.Dataset | None = None,
        latents: datasets.Dataset | None = None,
        resolution: int | None = None,
    ) -> None:
        if (images is None) == (latents is None):
            raise ValueError("give exactly one of images (encode every step) or latents (the latent cache)")
        if images is not None and resolution is None:
            raise ValueError("images need a resolution")
        self.rows = rows
        self.seed = seed
        self.epoch = 0
        self.images = images.select_columns(list(schema.IMAGE_COLUMNS)) if images is not None else None
        self.latents = latents.with_format("torch") if latents is not None else None
        self.resolution = resolution

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, row: int) -> dict[str, torch.Tensor]:
        negatives = self.rows.negatives[row]
        item = {
            "row": torch.tensor(row),
            "positive_text": torch.tensor(self.rows.positive[row]),
            "negative_text": torch.tensor(negatives[negative_choice(self.seed, self.epoch, row, len(negatives))]),
        }
        if self.latents is not None:
            cached = self.latents[row]
            item["source_latents"] = cached["source_latents"]
            item["target_moments"] = cached["target_moments"]
        else:
            pair = self.images[row]
            item["source_pixels"] = image_to_tensor(pair[schema.SOURCE_IMAGE], self.resolution)
            item["target_pixels"] = image_to_tensor(pair[schema.TARGET_IMAGE], self.resolution)
        return item
