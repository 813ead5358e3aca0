"""Presets map each public dataset's own column names onto the canonical schema."""

from __future__ import annotations

import dataclasses

import datasets
import pytest
from PIL import Image

from edit_handbook.data import schema
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.data.presets import PRESETS, DatasetPreset, get_preset
from edit_handbook.data.validation import DataValidationError


def _fake_rows(preset: DatasetPreset, count: int = 3) -> datasets.Dataset:
    """A tiny in-memory dataset with the preset's source column names (and its ignored columns)."""
    data: dict[str, list] = {}
    for canonical, column in preset.columns.items():
        if canonical in schema.IMAGE_COLUMNS:
            shade = 0 if canonical == schema.SOURCE_IMAGE else 200
            data[column] = [Image.new("RGB", (6, 4), (shade, i, 0)) for i in range(count)]
        elif canonical == schema.NEGATIVES:
            data[column] = [[f"make square {i} purple"] for i in range(count)]
        else:
            data[column] = [f"make square {i} green" for i in range(count)]
    for column in preset.ignored:
        data[column] = [f"a caption {i}" for i in range(count)]
    data["extra_score"] = [0.5] * count
    return datasets.Dataset.from_dict(data)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_maps_its_dataset_onto_the_schema(name):
    preset = get_preset(name)
    dataset, report = load_edit_pairs(_fake_rows(preset), preset=name)
    assert report.num_kept == 3 and not report.dropped
    assert set(schema.REQUIRED_EDIT_COLUMNS) | set(preset.columns) <= set(dataset.column_names)
    assert dataset.column_names[:2] == [schema.SOURCE_IMAGE, schema.TARGET_IMAGE]
    assert isinstance(dataset.features[schema.SOURCE_IMAGE], datasets.Image)
    assert not set(preset.ignored) & set(dataset.column_names)
    assert dataset["extra_score"] == [0.5] * 3  # columns the preset does not name are kept
    assert dataset[1][schema.INSTRUCTION] == "make square 1 green"
    assert dataset[2][schema.TARGET_IMAGE].getpixel((0, 0)) == (200, 2, 0)


def test_superedit_fills_instruction_rectified_and_negatives():
    dataset, _ = load_edit_pairs(_fake_rows(get_preset("superedit-40k")), preset="superedit-40k")
    row = dataset[0]
    assert row[schema.INSTRUCTION] == row[schema.RECTIFIED] == "make square 0 green"
    assert row[schema.NEGATIVES] == ["make square 0 purple"]


def test_superedit_accepts_lists_of_prompts_and_a_single_negative_string():
    """The reference training script accepts either shape in both text columns."""
    fake = datasets.Dataset.from_dict(
        {
            "input_image": [Image.new("RGB", (4, 4))] * 2,
            "edited_image": [Image.new("RGB", (4, 4), "white")] * 2,
            "edit_prompts": [["", "add a hat", "put on a hat"], ["remove the dog"]],
            "neg_prompts": ["remove the hat", "add a dog"],
        }
    )
    dataset, _ = load_edit_pairs(fake, preset="superedit-40k")
    assert dataset[schema.INSTRUCTION] == dataset[schema.RECTIFIED] == ["add a hat", "remove the dog"]
    assert dataset[schema.NEGATIVES] == [["remove the hat"], ["add a dog"]]
    assert dataset.features[schema.NEGATIVES] == schema.feature_for(schema.NEGATIVES)


def test_preset_without_source_reads_its_hub_id_and_split(monkeypatch):
    calls = []
    preset = get_preset("ultraedit")

    def fake_load_dataset(path, name=None, *, split, streaming, cache_dir):
        calls.append((path, name, split, streaming))
        return _fake_rows(preset)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dataset, report = load_edit_pairs(preset="ultraedit")
    assert calls == [("BleachNick/UltraEdit", None, "FreeForm", False)]
    assert len(dataset) == 3 and report.source == "BleachNick/UltraEdit"


def test_explicit_mapping_overrides_a_preset_entry():
    preset = get_preset("magicbrush")
    fake = _fake_rows(preset).rename_column("instruction", "human_instruction")
    dataset, _ = load_edit_pairs(fake, preset=preset, column_mapping={"instruction": "human_instruction"})
    assert dataset[0][schema.INSTRUCTION] == "make square 0 green"


def test_preset_column_absent_from_the_data_names_the_columns_there():
    fake = _fake_rows(get_preset("hq-edit")).rename_column("output_image", "result")
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(fake, preset="hq-edit")
    assert caught.value.column == "output_image" and "result" in caught.value.reason
    assert "column_mapping" in caught.value.fix


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset preset 'pix2pix'; known presets: superedit-40k, ") as caught:
        get_preset("pix2pix")
    assert all(name in str(caught.value) for name in PRESETS)
    assert get_preset("SuperEdit-40K") is PRESETS["superedit-40k"]


def test_presets_are_frozen_and_canonical():
    preset = get_preset("magicbrush")
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.hub_id = "someone/else"
    with pytest.raises(TypeError):
        preset.columns["instruction"] = "other"
    with pytest.raises(ValueError, match="canonical"):
        DatasetPreset(name="bad", hub_id="a/b", columns={"prompt": "text"}, description="")
    assert all(preset.description and "/" in preset.hub_id for preset in PRESETS.values())
