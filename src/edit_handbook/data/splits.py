"""Held-out splits that keep every row of one source pair on the same side.

Preference data has several rows per edit pair (one per rejected answer, in the synthetic set and in user
data alike). A row-level split puts rows of one pair on both sides, so "held-out" rows share their images
and chosen answer with training rows. `split_by_source_pair` groups rows by their two images (the bytes, or
the path when only a path is stored) and splits the groups.
"""

from __future__ import annotations

import hashlib
import math

import datasets
import numpy as np

from . import schema


def _image_key(value) -> bytes:
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return hashlib.sha256(value["bytes"]).digest()
        if value.get("path"):
            return f"path:{value['path']}".encode()
    if isinstance(value, str):
        return f"path:{value}".encode()
    raise ValueError(f"cannot identify image {type(value).__name__}: expected bytes or a path")


def source_pair_keys(dataset: datasets.Dataset) -> list[str]:
    """One key per row: the digest of its source and target images (rows of one edit pair share it)."""
    raw = dataset
    for column in schema.IMAGE_COLUMNS:
        raw = raw.cast_column(column, datasets.Image(decode=False))
    keys = []
    for index, row in enumerate(raw.select_columns(list(schema.IMAGE_COLUMNS))):
        try:
            digest = hashlib.sha256(b"".join(_image_key(row[c]) for c in schema.IMAGE_COLUMNS))
        except ValueError as error:
            raise ValueError(f"row {index}: {error}; store images as bytes or paths to split by source pair") from None
        keys.append(digest.hexdigest())
    return keys


def split_by_source_pair(
    dataset: datasets.Dataset, test_fraction: float, *, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, held-out): about `test_fraction` of the source pairs (at least one, never all) with all their rows."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {test_fraction}")
    keys = source_pair_keys(dataset)
    groups = list(dict.fromkeys(keys))  # first-appearance order: the split does not depend on hash values
    if len(groups) < 2:
        raise ValueError(
            f"{len(dataset)} rows come from {len(groups)} source pair(s): a held-out split needs at least two pairs"
        )
    num_held_out = min(len(groups) - 1, max(1, math.ceil(test_fraction * len(groups))))
    order = np.random.default_rng(seed).permutation(len(groups))
    held_out = {groups[i] for i in order[:num_held_out]}
    test_rows = [i for i, key in enumerate(keys) if key in held_out]
    train_rows = [i for i, key in enumerate(keys) if key not in held_out]
    return dataset.select(train_rows), dataset.select(test_rows)
