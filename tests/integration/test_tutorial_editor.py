"""`edit-handbook tutorial-editor` end to end on a tiny budget: fit the base, train, save, score from the pixels.

This checks the plumbing (every stage runs and writes what it says), not learning: the recipe's measured
state is in the README ("Tutorial editor").
"""

from __future__ import annotations

import json

import torch
from accelerate.state import AcceleratorState, GradientState
from diffusers import StableDiffusionInstructPix2PixPipeline
from tests.helpers import REPO_ROOT

from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.tutorial_editor import main


RECIPE = REPO_ROOT / "recipes/superedit/tutorial-editor/tutorial/config_cpu.yaml"


def test_tutorial_editor_fits_trains_saves_and_scores(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        argv = [
            "--config", str(RECIPE), "--output_dir", str(tmp_path / "run"), "--cache_dir", str(tmp_path / "cache"),
            "--tutorial_vae_steps", "2", "--tutorial_text_steps", "2", "--tutorial_train_pairs", "20",
            "--max_train_steps", "2", "--per_device_train_batch_size", "4", "--checkpointing_steps", "0",
            "--tutorial_eval_pairs_per_type", "1", "--tutorial_eval_steps", "2", "--logging_steps", "1",
        ]  # fmt: skip
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    run = tmp_path / "run"
    pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(run)
    assert pipeline.unet.config.in_channels == 8 and pipeline.scheduler.config.prediction_type == "sample"
    assert json.loads((run / "base" / "text_fit.json").read_text())["heldout_attribute_accuracy"]
    assert json.loads((run / "timing.json").read_text())["train_cpu_seconds"] > 0
    result = SuiteResult.load(run / "evaluation" / "result.json")
    assert set(result.groups["edit_type"]) == {"recolour", "move", "resize", "add", "remove"}
    assert (run / "evaluation" / "report.md").is_file()
