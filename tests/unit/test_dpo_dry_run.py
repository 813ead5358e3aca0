"""`dpo.py --dry_run` for every HAE-DPO model recipe: meta-device policy, one collated preference batch,
memory per GPU, and no reference model counted. Offline, as on a machine without network access."""

from pathlib import Path

import datasets
import huggingface_hub
import pytest

from edit_handbook.dpo import make_parser as make_dpo_parser
from edit_handbook.editcaption.dpo_dry_run import dpo_dry_run


ROOT = Path(__file__).resolve().parents[2]
BILLIONS = {"2b": (1.9, 2.4), "8b": (8.2, 9.3), "32b": (32.0, 35.0), "30b-a3b": (29.5, 33.0), "235b-a22b": (230, 240)}
RECIPES = sorted(
    str(p.relative_to(ROOT / "recipes/editcaption"))
    for p in (ROOT / "recipes/editcaption").glob("qwen3-vl-*/dpo/*.yaml")
)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_every_model_has_a_dpo_recipe():
    assert {recipe.split("/")[0].removeprefix("qwen3-vl-") for recipe in RECIPES} == set(BILLIONS)


@pytest.mark.parametrize("recipe", RECIPES)
def test_dpo_recipe_dry_run(recipe, offline):
    argv = ["--config", str(ROOT / "recipes/editcaption" / recipe), "--dry_run", "true"]
    argv += ["--accelerate_config", str(ROOT / "accelerate_configs/zero3.yaml")]
    script_args, _, _, _, training_args, model_args = make_dpo_parser().parse_args_and_config(argv)
    report = dpo_dry_run(script_args, training_args, model_args)
    low, high = BILLIONS[recipe.split("/")[0].removeprefix("qwen3-vl-")]
    lora = "lora" in recipe or model_args.use_peft
    base = report.total_params - (report.trainable_params if lora else 0)
    assert low <= base / 1e9 <= high, report.to_text()
    moe = "-a" in recipe  # prefix sharing is off for mixture-of-experts models
    assert report.batch["prefix sharing"] is not moe
    if moe:
        rows = report.batch["input_ids (chosen + rejected rows)"][0]
        assert rows == 2 * training_args.per_device_train_batch_size  # each pair twice: chosen and rejected
    else:
        rows = report.batch["packed input_ids (one row per pair)"][0]
        assert rows == training_args.per_device_train_batch_size  # each pair once, both answers packed
    assert report.batch["reference model in memory"].startswith("none")
    assert report.batch["image_tokens_per_example"] > 0 and report.memory_gib["total"] > 0
