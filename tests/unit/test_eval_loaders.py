"""Benchmark loaders (HQ-Edit and ByteMorph-Bench layouts through their presets, Eval-400-style folders) and
captioner specs."""

import json

import datasets
import numpy as np
import pytest
from PIL import Image

from edit_handbook.data.configs import DataArguments
from edit_handbook.evaluation.benchmarks import load_eval_folder, load_pairs
from edit_handbook.evaluation.captioners import CaptionerSpec, column_instructions, parse_captioner, parse_captioners


def images(count: int) -> list[Image.Image]:
    return [Image.fromarray(np.full((16, 16, 3), 40 * i, dtype=np.uint8)) for i in range(count)]


def test_hq_edit_layout_loads_by_path_through_its_preset(tmp_path):
    # HQ-Edit's columns per its card: the image descriptions `input` / `output` must not become instructions.
    rows = {
        "input_image": images(3),
        "output_image": images(3),
        "edit": ["Make the sky red.", "Add a cat.", "Remove the tree."],
        "inverse_edit": ["Make the sky blue.", "Remove the cat.", "Add a tree."],
        "input": ["a photo"] * 3,
        "output": ["another photo"] * 3,
    }
    datasets.Dataset.from_dict(rows).save_to_disk(tmp_path / "hq")
    args = DataArguments(dataset_name=str(tmp_path / "hq"), dataset_preset="hq-edit")
    pairs = load_pairs(args.load_kwargs(), max_pairs=2)
    assert len(pairs) == 2 and pairs["instruction"] == ["Make the sky red.", "Add a cat."]
    assert "input" not in pairs.column_names and pairs[0]["source_image"].size == (16, 16)


def test_bytemorph_bench_layout_loads_its_test_split(tmp_path):
    rows = {
        "src_img": images(2),
        "tgt_img": images(2),
        "edit_prompt": ["Zoom in on the dog.", "The man raises his arm."],
        "edit_type": ["camera_zoom", "human_motion"],
        "src_img_caption": ["dog", "man"],
        "tgt_img_caption": ["dog close", "man arm up"],
    }
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(tmp_path / "bm")
    pairs = load_pairs(
        DataArguments(dataset_name=str(tmp_path / "bm"), dataset_preset="bytemorph-bench").load_kwargs()
    )
    assert pairs["edit_type"] == ["camera_zoom", "human_motion"]
    assert pairs["instruction"][0] == "Zoom in on the dog."


def write_folder(folder, lines):
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images(2)):
        image.save(folder / "imgs" / f"{i}.png")
    (folder / "pairs.jsonl").write_text("".join(line + "\n" for line in lines))
    return folder


def test_eval_folder_reads_pairs_without_instructions(tmp_path):
    folder = write_folder(
        tmp_path,
        [
            json.dumps({"source_image": "imgs/0.png", "target_image": "imgs/1.png", "id": "a", "edit_type": "move"}),
            json.dumps({"source_image": "imgs/1.png", "target_image": "imgs/0.png", "instruction": "Undo it."}),
        ],
    )
    pairs = load_pairs({"source": str(folder)})
    assert pairs["id"] == ["a", "line-2"] and pairs["instruction"] == [None, "Undo it."]
    assert pairs[0]["target_image"].mode == "RGB" and pairs["edit_type"] == ["move", None]


def test_eval_folder_errors_name_every_line_and_field(tmp_path):
    folder = write_folder(
        tmp_path,
        [
            json.dumps({"source_image": "imgs/0.png", "target_image": "imgs/missing.png"}),
            "{not json",
            json.dumps({"target_image": "imgs/0.png", "instruction": 3}),
            json.dumps(["a list"]),
            json.dumps({"source_image": "imgs/0.png", "target_image": "imgs/0.png"}),
        ],
    )
    (folder / "imgs" / "0.png").write_text("not an image")
    with pytest.raises(ValueError) as error:
        load_eval_folder(folder)
    message = str(error.value)
    assert message.startswith("9 problem(s) in")  # 0.png is unreadable wherever it is named
    assert "line 5, field 'target_image':" in message and "is not a readable image" in message
    assert "line 1, field 'target_image': no file" in message
    assert "line 2: not JSON" in message
    assert "line 3, field 'source_image': missing" in message
    assert "line 3, field 'instruction': must be text, got int" in message
    assert "line 4: expected a JSON object, got list" in message


def test_eval_folder_repeated_ids_and_missing_file(tmp_path):
    line = json.dumps({"source_image": "imgs/0.png", "target_image": "imgs/1.png", "id": "same"})
    with pytest.raises(ValueError, match=r"ids \['same'\] repeat"):
        load_eval_folder(write_folder(tmp_path / "a", [line, line]))
    with pytest.raises(FileNotFoundError, match="has no pairs.jsonl"):
        load_eval_folder(tmp_path / "nothing")


def test_captioner_specs():
    assert parse_captioner("column:instruction") == CaptionerSpec("column:instruction", "column", "instruction")
    assert parse_captioner("gpt=http:gpt-4o") == CaptionerSpec("gpt", "http", "gpt-4o")
    assert parse_captioner("sft=outputs/sft/checkpoint-10") == CaptionerSpec(
        "sft", "local", "outputs/sft/checkpoint-10"
    )
    assert parse_captioner("Qwen/Qwen3-VL-8B-Instruct").kind == "local"
    with pytest.raises(ValueError, match="write http:<model name>"):
        parse_captioner("http:")
    with pytest.raises(ValueError, match=r"captioners \['a'\] appear twice"):
        parse_captioners(["a=column:x", "a=http:y"])


def test_column_captioner_reports_empty_cells_and_unknown_columns():
    data = datasets.Dataset.from_dict({"instruction": ["Move it.", "  ", None]})
    texts, errors = column_instructions(data, "instruction")
    assert texts == ["Move it.", None, None]
    assert errors == [None, "row has no text in column 'instruction'", "row has no text in column 'instruction'"]
    with pytest.raises(ValueError, match="column:caption: no such column; the data has instruction"):
        column_instructions(data, "caption")
