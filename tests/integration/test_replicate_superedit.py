"""A CI-sized run of the SuperEdit study (1 seed, tiny arms): every arm trains and is scored from the pixels on
the same fresh pairs, the report has every section and records the run, and a rerun reuses every finished arm.

Learning is checked elsewhere (`test_tutorial_editor_learning.py`); at this size the arms cannot differ."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from tests.helpers import REPO_ROOT

from edit_handbook import tutorial_editor
from edit_handbook.replicate import main as replicate_main
from edit_handbook.replicate_superedit import SuperEditReplicationArguments, arm_configs, run_study


RECIPE = REPO_ROOT / "recipes/superedit/tutorial-editor/tutorial/config_cpu.yaml"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    args = SuperEditReplicationArguments(
        output_dir=str(tmp_path_factory.mktemp("study")),
        recipe=str(RECIPE),
        recipe_args=["--max_train_steps", "4", "--tutorial_train_pairs", "20", "--per_device_train_batch_size", "4"],
        arms=["reference", "noisy", "reference_triplet"],
        seeds=[0],
        test_pairs_per_type=1,
        test_steps=2,
        num_resamples=50,
    )
    try:
        yield args, run_study(args)
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def test_every_arm_is_scored_on_the_same_pairs_and_reported(study):
    args, report = study
    for key in ("commit", "versions", "threads", "design", "settings", "seconds"):
        assert key in report
    results = report["results"]
    assert set(results) == {"reference", "noisy", "reference_triplet"}
    assert results["reference"]["items"] == results["noisy"]["items"] == 5  # one fresh pair per edit type
    assert {"correct", "preserved", "changed", "wrong_followed", "correct_vs_reference"} <= set(results["noisy"])
    text = (Path(args.output_dir) / "report.md").read_text()
    for section in ("edit accuracy", "## Edit accuracy per edit type", "## Per seed", "seeds and items resampled"):
        assert section in text
    assert (Path(args.output_dir) / "rates.png").is_file()
    ids = {
        arm: [item["id"] for item in json.loads((Path(args.output_dir) / "seed0" / arm / "scores.json").read_text())]
        for arm in results
    }
    assert ids["reference"] == ids["noisy"] == ids["reference_triplet"]


def test_arms_differ_only_in_column_and_triplet_start(study, tmp_path):
    args, _ = study
    base = str(Path(args.output_dir))
    configs = {arm: arm_configs(arm, 0, args, tmp_path, base) for arm in ("reference", "noisy", "reference_triplet")}
    assert configs["noisy"][0].tutorial_noisy_share == 0.4 and configs["reference"][0].tutorial_noisy_share == 0.0
    assert configs["noisy"][2].instruction_column == "noisy_instruction"
    assert configs["reference_triplet"][3].triplet_start_step == 2  # half of the 4 steps
    assert configs["reference"][3].triplet_start_step > configs["reference"][5].max_train_steps


def test_rerun_reuses_every_finished_arm(study, monkeypatch, capsys):
    args, _ = study
    monkeypatch.setattr(tutorial_editor, "train_and_score", lambda configs: pytest.fail("an arm was retrained"))
    config = Path(args.output_dir) / "study.yaml"
    config.write_text(json.dumps({**vars(args), "num_resamples": 20}))  # YAML accepts JSON
    assert replicate_main(["superedit", "--config", str(config)]) == 0
    assert "# SuperEdit study" in capsys.readouterr().out


def test_rerun_with_another_benchmark_is_refused_before_any_work(study, monkeypatch):
    args, _ = study
    monkeypatch.setattr(tutorial_editor, "train_and_score", lambda configs: pytest.fail("an arm was trained"))
    with pytest.raises(ValueError, match=r"another benchmark: .*--output_dir"):
        run_study(dataclasses.replace(args, test_steps=3))
