"""`sft.py --dry_run` for every EditCaption recipe: meta-device model, one real batch, memory per GPU.

Runs offline: the Hub is switched off, so configs come from KNOWN_ARCHITECTURES and data from the synthetic
stand-in, exactly what a machine without network access sees.
"""

from pathlib import Path

import datasets
import huggingface_hub
import pytest

from edit_handbook.editcaption.dry_run import dry_run
from edit_handbook.sft import main
from edit_handbook.sft import make_parser as make_sft_parser


ROOT = Path(__file__).resolve().parents[2]
# recipe -> (accelerate config it is launched with, billions of base-model parameters it must report)
RECIPES = {
    "qwen3-vl-2b/sft/config_full.yaml": ("ddp.yaml", (1.9, 2.4)),
    "qwen3-vl-8b/sft/config_full.yaml": ("zero3.yaml", (8.2, 9.3)),
    "qwen3-vl-8b/sft/config_lora.yaml": ("ddp.yaml", (8.2, 9.3)),
    "qwen3-vl-32b/sft/config_lora.yaml": ("zero3.yaml", (32.0, 35.0)),
    "qwen3-vl-30b-a3b/sft/config_lora.yaml": ("zero3.yaml", (29.5, 33.0)),
    "qwen3-vl-235b-a22b/sft/config_lora.yaml": ("zero3_multinode_4x8.yaml", (230.0, 240.0)),
}


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_every_model_recipe_has_a_dry_run_case():
    found = {
        str(p.relative_to(ROOT / "recipes/editcaption")) for p in (ROOT / "recipes/editcaption").glob("*/sft/*.yaml")
    }
    # The tiny CPU recipes train for real in their own tests (test_sft.py, test_see_recipe.py) instead.
    tiny = {p for p in found if p.startswith(("smoke/", "tiny-see/"))}
    assert tiny >= {"smoke/sft/config_smoke.yaml", "tiny-see/sft/config_describe.yaml"}
    assert found - tiny == set(RECIPES)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_dry_run(recipe, offline):
    accelerate_config, (low, high) = RECIPES[recipe]
    argv = [
        "--config",
        str(ROOT / "recipes/editcaption" / recipe),
        "--dry_run",
        "--accelerate_config",
        str(ROOT / "accelerate_configs" / accelerate_config),
    ]
    report = dry_run(*make_sft_parser().parse_args_and_config(argv))
    lora = "lora" in recipe
    base = report.total_params - (report.trainable_params if lora else 0)
    assert low <= base / 1e9 <= high, report.to_text()
    if lora:
        assert 0 < report.trainable_params < 0.05 * report.total_params
    else:
        assert report.trainable_params == report.total_params
    assert report.batch["image_tokens_per_example"] > 0 and report.batch["answer_tokens_max"] > 0
    assert report.batch["max_length"] is None
    memory = report.memory_gib
    assert 0 < memory["total"] < 80, report.to_text()  # every recipe fits an 80 GB GPU by this estimate
    assert report.parallelism.world_size == (32 if "235b" in recipe else 8)


def test_dry_run_from_the_command_line_prints_the_estimate(offline, capsys):
    assert main(["--config", str(ROOT / "recipes/editcaption/smoke/sft/config_smoke.yaml"), "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "dry run: tiny-qwen3-vl-synthetic (config from config.json)" in printed
    assert "memory per GPU (estimate, GiB)" in printed and "single process" in printed


def test_truncating_max_length_is_refused(offline):
    argv = [
        "--config",
        str(ROOT / "recipes/editcaption/smoke/sft/config_smoke.yaml"),
        "--dry_run",
        "--max_length",
        "12",
    ]
    with pytest.raises(ValueError, match="set max_length: null and bound max_pixels"):
        dry_run(*make_sft_parser().parse_args_and_config(argv))
