"""The Real-Edit loader on the real release subset (../shared/data/real_edit_bench); skipped where absent.

The photos stay where they are: nothing from ../shared/data is copied into the repository.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from edit_handbook.evaluation.real_edit import EDIT_TYPES, load_real_edit


BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real_edit_bench"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not (BENCH / "eval_instruct.json").is_file(), reason=f"Real-Edit subset not found at {BENCH}"),
]


def test_real_subset_loads_seven_typed_edits_per_photo():
    items = load_real_edit(BENCH)
    photos = list(dict.fromkeys(item.key for item in items))
    assert len(photos) == 20 and len(items) == 7 * 20
    assert Counter(item.edit_type for item in items) == {edit_type: 20 for edit_type in EDIT_TYPES}
    assert all(tuple(i.edit_type for i in items if i.key == key) == EDIT_TYPES for key in photos)
    assert len({item.id for item in items}) == len(items)
    assert all(
        item.instruction and not item.instruction[0].isdigit() and ": " not in item.instruction[:12] for item in items
    )
    with Image.open(items[0].image_path) as photo:
        assert photo.mode == "RGB" and max(photo.size) == 1280


def test_real_subset_filters():
    items = load_real_edit(BENCH, edit_types=["Remove", "Style"], limit=2)
    assert [(item.key, item.edit_type) for item in items] == [
        ("2.jpeg", "Remove"),
        ("2.jpeg", "Style"),
        ("3.jpeg", "Remove"),
        ("3.jpeg", "Style"),
    ]
    assert items[0].instruction == "Remove the basket on her back."
