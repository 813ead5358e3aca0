"""Real third-party edit pairs (../shared/data beside the repository) load cleanly; skipped where absent.

The images stay where they are: nothing from ../shared/data is copied into the repository.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from edit_handbook.data import schema
from edit_handbook.data.loading import load_edit_pairs


SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MANIFEST = SHARED_DATA / "real_edit_pairs" / "manifest.jsonl"
MAPPING = {schema.SOURCE_IMAGE: "source", schema.TARGET_IMAGE: "target"}

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not MANIFEST.is_file(), reason=f"real edit pairs not found at {MANIFEST}"),
]


def test_real_pairs_load_clean_and_rgb():
    dataset, report = load_edit_pairs(MANIFEST, column_mapping=MAPPING)
    assert len(dataset) == report.num_checked == report.num_kept == 5 and not report.dropped
    assert dataset.column_names[:4] == [schema.SOURCE_IMAGE, schema.TARGET_IMAGE, schema.INSTRUCTION, schema.ID]
    assert {"origin_repo", "license"} <= set(dataset.column_names)
    sizes = set()
    for row in dataset:
        assert row[schema.SOURCE_IMAGE].mode == row[schema.TARGET_IMAGE].mode == "RGB"
        assert max(row[schema.SOURCE_IMAGE].size) == 256 and row[schema.INSTRUCTION].strip()
        sizes.add(row[schema.SOURCE_IMAGE].size)
    assert any(width != height for width, height in sizes)  # real photos are not square


def test_real_pairs_stream_and_sample():
    stream, report = load_edit_pairs(MANIFEST, column_mapping=MAPPING, streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    assert [row[schema.ID] for row in stream] == [f"step1x_{index:04d}" for index in range(5)]
    assert report.num_checked == 5
    _, sampled = load_edit_pairs(MANIFEST, column_mapping=MAPPING, validation="sample", sample_size=2)
    assert sampled.num_checked == 2 and sampled.num_kept == 5


def test_real_pairs_fail_on_a_tight_pixel_budget():
    _, report = load_edit_pairs(MANIFEST, column_mapping=MAPPING, max_pixels=256 * 100, on_error="skip")
    assert report.dropped["huge_image"] == 5 and report.num_kept == 0
