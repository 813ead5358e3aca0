"""Preference rows -> TRL vision-preference examples for HAE-DPO.

Each example has `images` = [source, edited], the same conversational `caption` prompt the SFT stage trains
on (`prompts.prompt_messages`), `chosen`/`rejected` assistant turns (`prompts.completion_messages`), and the
row's `id`, `error_type` and `severity`, which the reference pass keys on and the margins and metrics read.
Images pass through undecoded, as in `sft_data`.
"""

from __future__ import annotations

import datasets

from edit_handbook.data import schema
from edit_handbook.data.validation import DataValidationError
from edit_handbook.editcaption.prompts import completion_messages, prompt_messages
from edit_handbook.editcaption.sft_data import SFT_FEATURES


LABEL_COLUMNS = (schema.ERROR_TYPE, schema.SEVERITY)
PREFERENCE_FEATURES = datasets.Features(
    {
        schema.ID: datasets.Value("string"),
        "images": SFT_FEATURES["images"],
        "prompt": SFT_FEATURES["prompt"],
        "chosen": SFT_FEATURES["completion"],
        "rejected": SFT_FEATURES["completion"],
        schema.ERROR_TYPE: datasets.Value("string"),
        schema.SEVERITY: datasets.Value("string"),
    }
)


def _examples(batch: dict, indices: list[int]) -> dict:
    ids = batch.get(schema.ID) or [None] * len(indices)
    return {
        schema.ID: [row_id or f"row-{index:09d}" for row_id, index in zip(ids, indices)],
        "images": [[s, t] for s, t in zip(batch[schema.SOURCE_IMAGE], batch[schema.TARGET_IMAGE])],
        "prompt": [prompt_messages("caption") for _ in indices],
        "chosen": [completion_messages(text.strip()) for text in batch[schema.CHOSEN]],
        "rejected": [completion_messages(text.strip()) for text in batch[schema.REJECTED]],
        schema.ERROR_TYPE: batch[schema.ERROR_TYPE],
        schema.SEVERITY: batch[schema.SEVERITY],
    }


def check_unique_ids(ids: list[str]) -> None:
    """The reference pass stores one row per id, so two rows with one id would share reference log-probs."""
    seen: dict[str, int] = {}
    for index, row_id in enumerate(ids):
        if row_id in seen:
            raise DataValidationError(
                index,
                schema.ID,
                f"id {row_id!r} repeats row {seen[row_id]}",
                "give every preference row its own id (or drop the id column to number rows by position)",
            )
        seen[row_id] = index


def to_preference_examples(dataset: datasets.Dataset, *, num_proc: int | None = None) -> datasets.Dataset:
    """One DPO example per validated preference row (see `data.loading.load_edit_pairs(kind="preference")`).

    Rows without an `id` are named by position (`row-000000012`): stable as long as the data's order is.
    """
    missing = [c for c in schema.REQUIRED_PREFERENCE_COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataValidationError(
            None,
            ", ".join(missing),
            "preference column missing",
            "load the data with kind='preference' (dataset_kind: preference) or map the columns",
        )
    raw = dataset
    for column in schema.IMAGE_COLUMNS:
        raw = raw.cast_column(column, datasets.Image(decode=False))
    examples = raw.map(
        _examples,
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        features=PREFERENCE_FEATURES,
        num_proc=num_proc,
        desc="DPO preference examples",
    )
    check_unique_ids(list(examples[schema.ID]))
    return examples
