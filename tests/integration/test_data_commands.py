"""`edit-handbook generate`, `validate` and the demo's data stage write what they promise."""

import json
from pathlib import Path

import datasets
import yaml
from PIL import Image

from edit_handbook import cli
from edit_handbook.data import schema
from edit_handbook.data.synthetic import check_instruction
from edit_handbook.demo.context import DemoContext
from edit_handbook.demo.stages import run_demo


ROOT = Path(__file__).resolve().parents[2]


def test_generate_from_the_smoke_recipe_writes_dataset_card_grid_and_run_info(tmp_path):
    recipe = ROOT / "recipes" / "smoke" / "generate" / "config_demo.yaml"
    out = tmp_path / "synthetic"
    argv = ["generate", "--config", str(recipe), "--output_dir", str(out), "--num_pairs", "12", "--image_size", "64"]
    assert cli.main(argv) == 0
    dataset = datasets.load_from_disk(str(out / "dataset"))
    assert dataset.num_rows == 12 and dataset[0][schema.SOURCE_IMAGE].size == (64, 64)
    assert all(check_instruction(r[schema.INSTRUCTION], r["edit_spec"]).correct for r in dataset)
    card = (out / "README.md").read_text()
    assert yaml.safe_load(card.split("---\n")[1])["license"] == "apache-2.0"
    assert "| `edit_spec` | string |" in card and "| train | 12 |" in card
    assert json.loads((out / "run_info.json").read_text())["config"]["num_pairs"] == 12
    assert Image.open(out / "examples.png").size[0] > 0


def test_generate_parquet_then_validate_it(tmp_path, capsys):
    out = tmp_path / "pq"
    argv = [
        "generate",
        "--output_dir",
        str(out),
        "--num_pairs",
        "6",
        "--image_size",
        "32",
        "--output_format",
        "parquet",
    ]
    assert cli.main(argv) == 0
    assert cli.main(["validate", "--dataset_name", str(out / "data" / "train.parquet")]) == 0
    assert "6 kept" in capsys.readouterr().out


def test_demo_data_stage_hands_its_dataset_to_later_stages(tmp_path, capsys):
    context = DemoContext(output_dir=tmp_path, num_pairs=12, image_size=48, seed=3)
    run_demo(context, only=["data"])
    saved = datasets.load_from_disk(str(context.artifacts["synthetic_dataset"]))
    assert saved.num_rows == 12 and saved[0][schema.TARGET_IMAGE].size == (48, 48)
    out = capsys.readouterr().out
    assert "Where everything went" in out and str(tmp_path / "data" / "synthetic" / "README.md") in out
