"""Validation at load: every bad input is named (row, column, fix), raised or dropped and counted."""

from __future__ import annotations

import io
import json
import pickle

import datasets
import numpy as np
import pytest
from PIL import Image

from edit_handbook.data import schema
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.data.validation import DataValidationError, ValidationReport, to_rgb


BAD_ROW = 2


def _png(color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> Image.Image:
    return Image.new("RGB", size, color)


def _pairs(count: int, **columns) -> datasets.Dataset:
    """An in-memory edit-pair dataset; `columns` override or add whole columns."""
    data = {
        "id": [f"pair-{i}" for i in range(count)],
        "source_image": [_png((i, 0, 0)) for i in range(count)],
        "target_image": [_png((0, i, 0)) for i in range(count)],
        "instruction": [f"make the square {i} shades greener" for i in range(count)],
    }
    data.update(columns)
    return datasets.Dataset.from_dict(data)


def _preferences(count: int, **columns) -> datasets.Dataset:
    data = {
        "source_image": [_png((i, 0, 0)) for i in range(count)],
        "target_image": [_png((0, i, 0)) for i in range(count)],
        "chosen": ["turn the car to face left"] * count,
        "rejected": ["turn the car to face right"] * count,
        "error_type": ["orientation"] * count,
        "severity": ["major"] * count,
    }
    data.update(columns)
    return datasets.Dataset.from_dict(data)


def _replace(values: list, index: int, value) -> list:
    return [value if i == index else v for i, v in enumerate(values)]


# --- the error itself ------------------------------------------------------------------------------------


def test_error_message_names_row_column_and_fix():
    dataset = _pairs(4, instruction=_replace(["a"] * 4, BAD_ROW, "   "))
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(dataset)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.row, error.column, error.reason) == (BAD_ROW, "instruction", "empty string")
    assert error.fix == "drop the row (on_error='skip') or fill in the instruction"
    assert str(error) == (
        "row 2, column 'instruction': empty string; fix: drop the row (on_error='skip') or fill in the instruction"
    )


def test_error_counts_the_other_bad_rows_and_survives_pickling():
    dataset = _pairs(5, instruction=["", "ok", "", "ok", ""])
    with pytest.raises(DataValidationError, match=r"^row 0, .*\(2 more bad rows;") as caught:
        load_edit_pairs(dataset)
    clone = pickle.loads(pickle.dumps(caught.value))
    assert (clone.row, clone.column, clone.reason, clone.fix, str(clone)) == (
        0,
        "instruction",
        "empty string",
        caught.value.fix,
        str(caught.value),
    )


@pytest.mark.parametrize("kind, missing", [("edit", "instruction"), ("preference", "severity")])
def test_missing_column_fails_whatever_the_mode(kind, missing):
    dataset = (_pairs(3) if kind == "edit" else _preferences(3)).remove_columns(missing)
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(dataset, kind=kind, on_error="skip", validation="off")
    assert caught.value.row is None and caught.value.column == missing
    assert "missing column" in caught.value.reason and "source_image" in caught.value.reason
    assert "column_mapping" in caught.value.fix


# --- bad images, written as files and referenced from a manifest ---------------------------------------------


def _truncated_jpeg(path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


BAD_IMAGES = {
    "truncated_image": ("broken.jpg", _truncated_jpeg),
    "unreadable_image": ("notes.png", lambda path: path.write_text("this is not an image")),
    "empty_file": ("empty.png", lambda path: path.write_bytes(b"")),
    "file_not_found": ("missing.png", lambda path: None),
}


@pytest.mark.parametrize("code", sorted(BAD_IMAGES))
def test_bad_image_file_raises_with_row_column_and_fix(code, edit_rows, write_jsonl, tmp_path):
    name, write = BAD_IMAGES[code]
    write(tmp_path / name)
    rows = edit_rows(4)
    rows[BAD_ROW]["target_image"] = name
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(write_jsonl(rows))
    assert (caught.value.row, caught.value.column) == (BAD_ROW, "target_image")
    assert "on_error='skip'" in caught.value.fix


@pytest.mark.parametrize("code", sorted(BAD_IMAGES))
def test_bad_image_file_is_dropped_and_counted_in_skip_mode(code, edit_rows, write_jsonl, tmp_path):
    name, write = BAD_IMAGES[code]
    write(tmp_path / name)
    rows = edit_rows(4)
    rows[BAD_ROW]["source_image"] = name
    dataset, report = load_edit_pairs(write_jsonl(rows), on_error="skip")
    assert report.dropped == {code: 1}
    assert dataset["id"] == ["pair-0", "pair-1", "pair-3"]
    assert report.messages[0].startswith("row 2, column 'source_image':")


def test_image_above_max_pixels_is_a_bad_row(edit_rows, write_jsonl, image_file):
    rows = edit_rows(3)
    image_file("big.png", size=(40, 30))
    rows[1]["source_image"] = "big.png"
    with pytest.raises(DataValidationError, match="40x30 = 1200 pixels, above max_pixels=1000") as caught:
        load_edit_pairs(write_jsonl(rows), max_pixels=1000)
    assert "raise max_pixels" in caught.value.fix
    dataset, report = load_edit_pairs(write_jsonl(rows), max_pixels=1000, on_error="skip")
    assert report.dropped == {"huge_image": 1} and dataset["id"] == ["pair-0", "pair-2"]


def test_missing_image_value_is_a_bad_row():
    dataset = _pairs(3, target_image=[_png((1, 1, 1)), None, _png((2, 2, 2))])
    with pytest.raises(DataValidationError, match="row 1, column 'target_image': no image"):
        load_edit_pairs(dataset)


# --- image modes: converted, counted, never errors -----------------------------------------------------------


@pytest.mark.parametrize(
    "mode, name",
    [("RGBA", "a.png"), ("LA", "a.png"), ("P", "a.png"), ("L", "a.png"), ("CMYK", "a.jpg"), ("I;16", "a.png")],
)
def test_non_rgb_images_are_converted_and_counted(mode, name, edit_rows, write_jsonl, image_file):
    rows = edit_rows(3)
    assert Image.open(image_file(name, mode=mode)).mode == mode
    rows[1]["target_image"] = name
    dataset, report = load_edit_pairs(write_jsonl(rows))
    assert report.converted_modes == {mode: 1} and not report.dropped
    assert [image.mode for image in dataset["target_image"]] == ["RGB"] * 3
    stored = dataset.cast_column("target_image", datasets.Image(decode=False))[1]["target_image"]
    if mode == "L":  # 8-bit grey becomes RGB exactly at decode time: the file is kept as it is
        assert stored["bytes"] is None and stored["path"].endswith(name)
    else:  # rewritten once as 8-bit (grey sources stay grey, a third of the bytes), not converted at each read
        assert Image.open(io.BytesIO(stored["bytes"])).mode == ("L" if mode == "I;16" else "RGB")


def test_sixteen_bit_keeps_its_range_and_alpha_composites_on_white():
    gray = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
    assert gray.mode == "I;16"
    assert np.asarray(to_rgb(gray))[0, :, 0].tolist() == [0, 128, 255]
    transparent = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert np.asarray(to_rgb(transparent)).tolist() == [[[255, 255, 255]] * 2] * 2
    rgb = Image.new("RGB", (2, 2), (1, 2, 3))
    assert to_rgb(rgb) is rgb


# --- text -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, reason", [("", "empty string"), (" \t", "empty string"), (None, "missing value")])
def test_empty_instruction(value, reason):
    dataset = _pairs(4, instruction=_replace(["fine"] * 4, BAD_ROW, value))
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(dataset)
    assert (caught.value.row, caught.value.reason) == (BAD_ROW, reason)


def test_non_string_instruction_column():
    with pytest.raises(DataValidationError, match="row 0, column 'instruction': expected a string, got int"):
        load_edit_pairs(_pairs(2, instruction=[3, 4]))


def test_non_string_instruction_in_a_manifest_row(edit_rows, write_jsonl):
    rows = edit_rows(4)
    rows[BAD_ROW]["instruction"] = 42
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(write_jsonl(rows))
    assert (caught.value.row, caught.value.column) == (BAD_ROW, "instruction")
    assert caught.value.reason == "a JSON number where the column holds string values"
    dataset, report = load_edit_pairs(write_jsonl(rows), on_error="skip")
    assert report.dropped == {"non_string_text": 1} and dataset["id"] == ["pair-0", "pair-1", "pair-3"]


def test_negative_equal_to_the_positive_ignores_case_and_spacing():
    negatives = [["make the square greener"], ["make the square redder"]]
    dataset = _pairs(2, instruction=["Make the  square GREENER ", "make it redder"], negative_instructions=negatives)
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(dataset)
    assert (caught.value.row, caught.value.column) == (0, "negative_instructions")
    assert "positive instruction itself" in caught.value.reason


def test_negatives_are_compared_with_the_rectified_instruction_when_there_is_one():
    """The noisy original instruction may serve as a negative of its rectified version."""
    dataset = _pairs(
        1,
        instruction=["make it blue"],
        rectified_instruction=["make the square green"],
        negative_instructions=[["make it blue"]],
    )
    assert len(load_edit_pairs(dataset)[0]) == 1
    dataset = dataset.map(lambda row: {"negative_instructions": ["Make the square green"]})
    with pytest.raises(DataValidationError, match="positive instruction itself"):
        load_edit_pairs(dataset)


def test_empty_negative_item():
    dataset = _pairs(1, negative_instructions=[["make it red", " "]])
    with pytest.raises(DataValidationError, match="column 'negative_instructions': item 1: empty string"):
        load_edit_pairs(dataset)


def test_parallel_negative_lists_must_match_in_length():
    dataset = _pairs(
        3,
        negative_instructions=[["a"], ["b", "c"], ["d"]],
        negative_attributes=[["color"], ["color"], ["size"]],
    )
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(dataset)
    assert (caught.value.row, caught.value.column) == (1, "negative_attributes")
    assert caught.value.reason == "1 items but 'negative_instructions' has 2"
    kept, report = load_edit_pairs(dataset, on_error="skip")
    assert report.dropped == {"list_length_mismatch": 1} and kept["id"] == ["pair-0", "pair-2"]


# --- preference rows -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column, value, allowed",
    [("error_type", "colour", schema.ERROR_TYPES), ("severity", "huge", schema.SEVERITIES)],
)
def test_unknown_preference_labels_list_the_allowed_ones(column, value, allowed):
    dataset = _preferences(3, **{column: _replace([allowed[0]] * 3, 1, value)})
    with pytest.raises(DataValidationError) as caught:
        load_edit_pairs(dataset, kind="preference")
    assert (caught.value.row, caught.value.column, caught.value.reason) == (1, column, f"unknown label {value!r}")
    assert caught.value.fix.endswith("use one of: " + ", ".join(allowed))


def test_identical_chosen_and_rejected():
    dataset = _preferences(2, rejected=["turn the car to face right", " Turn the car to face LEFT"])
    with pytest.raises(DataValidationError, match="row 1, column 'rejected': identical to 'chosen'"):
        load_edit_pairs(dataset, kind="preference")


def test_preference_row_without_image():
    dataset = _preferences(2, source_image=[None, _png((3, 3, 3))])
    kept, report = load_edit_pairs(dataset, kind="preference", on_error="skip")
    assert len(kept) == 1 and report.dropped == {"missing_image": 1}


# --- skip mode, the report, and cost levels ------------------------------------------------------------------


def test_skip_mode_counts_drops_by_reason_and_keeps_rows_intact_in_order():
    instructions = ["ok 0", "", "ok 2", "ok 3", None, "ok 5"]
    negatives = [["no 0"], ["no 1"], ["OK 2"], ["no 3"], ["no 4"], ["no 5"]]
    dataset = _pairs(6, instruction=instructions, negative_instructions=negatives)
    kept, report = load_edit_pairs(dataset, on_error="skip")
    assert kept["id"] == ["pair-0", "pair-3", "pair-5"]
    assert kept["instruction"] == ["ok 0", "ok 3", "ok 5"] and kept["negative_instructions"][1] == ["no 3"]
    assert np.asarray(kept[1]["source_image"])[0, 0].tolist() == [3, 0, 0]
    assert report.dropped == {"empty_text": 2, "negative_equals_positive": 1}
    assert (report.num_rows, report.num_checked, report.num_kept, report.num_dropped) == (6, 6, 3, 3)
    assert [message.split(":")[0] for message in report.messages] == [
        "row 1, column 'instruction'",
        "row 2, column 'negative_instructions'",
        "row 4, column 'instruction'",
    ]
    summary = report.summary()
    assert "6 loaded, 6 checked, 3 kept, 3 dropped" in summary and "empty_text 2" in summary
    assert json.loads(json.dumps(report.to_dict()))["dropped"] == {"empty_text": 2, "negative_equals_positive": 1}


def test_report_keeps_only_the_first_messages():
    kept, report = load_edit_pairs(_pairs(14, instruction=[""] * 14), on_error="skip")
    assert len(kept) == 0 and report.dropped == {"empty_text": 14} and len(report.messages) == 10


def test_sample_mode_checks_a_seeded_sample_and_drops_only_sampled_bad_rows():
    dataset = _pairs(30, instruction=[""] * 30)
    kept, report = load_edit_pairs(dataset, validation="sample", sample_size=5, on_error="skip", seed=3)
    assert (report.num_checked, report.num_dropped, len(kept)) == (5, 5, 25)
    again, _ = load_edit_pairs(dataset, validation="sample", sample_size=5, on_error="skip", seed=3)
    other, _ = load_edit_pairs(dataset, validation="sample", sample_size=5, on_error="skip", seed=4)
    assert again["id"] == kept["id"] != other["id"]
    with pytest.raises(DataValidationError):
        load_edit_pairs(dataset, validation="sample", sample_size=5)


def test_sample_mode_still_hands_over_rgb():
    rgba = [Image.new("RGBA", (4, 4), (9, 9, 9, 255))] * 3
    dataset, report = load_edit_pairs(_pairs(3, source_image=rgba), validation="sample", sample_size=1)
    assert report.converted_modes == {"RGBA": 1}
    assert {image.mode for image in dataset["source_image"]} == {"RGB"}


def test_validation_off_checks_columns_only():
    kept, report = load_edit_pairs(_pairs(3, instruction=["", "", ""]), validation="off")
    assert len(kept) == 3 and report.num_checked == 0 and report.num_kept == 3


def test_parallel_validation_gives_the_same_result():
    dataset = _pairs(9, instruction=["ok"] * 4 + [""] + ["ok"] * 4)
    serial = load_edit_pairs(dataset, on_error="skip")
    parallel = load_edit_pairs(dataset, on_error="skip", num_proc=2)
    assert serial[0]["id"] == parallel[0]["id"] and serial[1].to_dict() == parallel[1].to_dict()


# --- streaming ------------------------------------------------------------------------------------------------


def test_streaming_validates_lazily_as_rows_are_read():
    stream = _pairs(4, instruction=_replace(["ok"] * 4, BAD_ROW, "")).to_iterable_dataset()
    dataset, report = load_edit_pairs(stream)  # nothing read yet: no error
    assert report.num_checked == 0
    rows = iter(dataset)
    assert [next(rows)["id"] for _ in range(BAD_ROW)] == ["pair-0", "pair-1"]
    with pytest.raises(DataValidationError, match="row 2, column 'instruction': empty string"):
        next(rows)


def test_streaming_skip_drops_converts_and_reports():
    rgba = [Image.new("RGBA", (4, 4), (9, 9, 9, 0))] * 4
    stream = _pairs(4, instruction=["ok", "", "ok", "ok"], target_image=rgba).to_iterable_dataset()
    dataset, report = load_edit_pairs(stream, on_error="skip")
    rows = list(dataset)
    assert [row["id"] for row in rows] == ["pair-0", "pair-2", "pair-3"]
    assert np.asarray(rows[0]["target_image"])[0, 0].tolist() == [255, 255, 255]
    assert report.dropped == {"empty_text": 1} and report.converted_modes == {"RGBA": 3}
    assert report.num_checked == 4 and "streamed" in report.summary()


def test_streaming_sample_checks_the_first_rows_only():
    stream = _pairs(6, instruction=["ok", "", "ok", "", "", ""]).to_iterable_dataset()
    dataset, report = load_edit_pairs(stream, validation="sample", sample_size=2, on_error="skip")
    assert [row["id"] for row in dataset] == ["pair-0", "pair-2", "pair-3", "pair-4", "pair-5"]
    assert report.num_checked == 2


def test_report_summary_for_a_clean_load():
    report = ValidationReport("synthetic", "edit", "full", "raise", num_rows=2, num_checked=2, num_kept=2)
    assert report.summary() == (
        "edit rows from 'synthetic' (validation=full, on_error=raise)\n  rows: 2 loaded, 2 checked, 2 kept, 0 dropped"
    )
