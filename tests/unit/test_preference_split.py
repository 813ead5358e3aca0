"""DPO's held-out split is by source pair: no eval row shares its images (or chosen answer) with a training row."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from PIL import Image

from edit_handbook.data import schema
from edit_handbook.data.splits import source_pair_keys, split_by_source_pair
from edit_handbook.editcaption.configs import DPOScriptArguments
from edit_handbook.editcaption.dpo_setup import load_preference_examples


def _image_bytes(examples, column):
    return {(source.tobytes(), target.tobytes()) for source, target in examples[column]}


def test_synthetic_eval_rows_share_no_source_pair_with_training_rows():
    args = DPOScriptArguments(
        dataset_name="synthetic",
        dataset_synthetic_pairs=12,
        dataset_synthetic_image_size=32,
        dataset_synthetic_edit_types=["move", "recolour"],
        dataset_eval_fraction=0.25,
    )
    train, evaluation, _ = load_preference_examples(args, evaluate=True)
    train_images, eval_images = _image_bytes(train, "images"), _image_bytes(evaluation, "images")
    assert eval_images and not train_images & eval_images
    assert len(eval_images) == 3  # a quarter of the 12 source pairs, each with all its rejected answers
    source = {row_id.split("-rejected-")[0] for row_id in evaluation["id"]}
    assert len(evaluation) > len(source)  # several rejected answers per held-out pair, all kept together


def _user_rows():
    """User preference data: 6 pairs, 3 rejected answers each, rows shuffled, no ids linking them."""
    rng = np.random.default_rng(0)
    images = [(Image.new("RGB", (8, 8), (10 * k, 0, 0)), Image.new("RGB", (8, 8), (0, 10 * k, 0))) for k in range(6)]
    rows = [(k, j) for k in range(6) for j in range(3)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    return datasets.Dataset.from_dict(
        {
            schema.ID: [f"row-{i}" for i in range(len(rows))],
            schema.SOURCE_IMAGE: [images[k][0] for k, _ in rows],
            schema.TARGET_IMAGE: [images[k][1] for k, _ in rows],
            schema.CHOSEN: [f"edit {k}" for k, _ in rows],
            schema.REJECTED: [f"wrong {k}.{j}" for k, j in rows],
            schema.ERROR_TYPE: ["other"] * len(rows),
            schema.SEVERITY: ["major"] * len(rows),
        },
        features=schema.preference_features(),
    )


def test_user_data_with_several_rejected_answers_per_pair_splits_by_pair():
    data = _user_rows()
    keys = source_pair_keys(data)
    assert len(set(keys)) == 6
    train, held_out = split_by_source_pair(data, 1 / 3, seed=0)
    assert len(held_out) == 6 and len(train) == 12
    assert not set(train[schema.CHOSEN]) & set(held_out[schema.CHOSEN])
    again, _ = split_by_source_pair(data, 1 / 3, seed=0)
    assert again[schema.REJECTED] == train[schema.REJECTED]


def test_split_needs_two_pairs_and_a_fraction_in_range():
    data = _user_rows()
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        split_by_source_pair(data, 1.0, seed=0)
    one_pair = data.filter(lambda row: row[schema.CHOSEN] == "edit 0")
    with pytest.raises(ValueError, match="at least two pairs"):
        split_by_source_pair(one_pair, 0.5, seed=0)
