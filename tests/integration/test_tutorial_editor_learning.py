"""The tutorial editor learns, judged from the pixels on fresh pairs: the recipe on a CI budget, and the shipped one.

The CI run trains a fresh UNet with the tutorial recipe (recolour pairs only, fewer pairs and steps) on the
shipped editor's fitted VAE and text encoder, then edits fresh recolour pairs of a seed used by nothing else.
Correct = the named object got the named colour AND the rest is preserved (`evaluation.pixel_edits`). Copying
the source, the untrained editor and painting every object the named colour each fail one half, so all score
about 0 on the same pairs; the trained editor must clear CI_RECOLOUR_ACCURACY.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from tests.helpers import REPO_ROOT

from edit_handbook.data.synthetic.scene import BACKGROUND, render
from edit_handbook.data.synthetic.vocabulary import COLOURS
from edit_handbook.evaluation.pixel_edits import score_edit
from edit_handbook.evaluation.synthetic_editing import editing_cases, evaluate_synthetic_editing
from edit_handbook.fixtures import tutorial_editor_checkpoint, tutorial_editor_scores
from edit_handbook.tutorial_editor import make_parser, train_and_score


RECIPE = REPO_ROOT / "recipes/superedit/tutorial-editor/tutorial/config_cpu.yaml"
PAIR_SEED = 1401  # fresh pairs for these tests only: no recipe trains, tunes or validates on this seed
CI_STEPS = 300
# Measured at CI_STEPS on these 30 pairs, 600 training pairs: 23.3% [10, 40] (training seed 0) and 33.3% [17, 50]
# (seed 1); 600 steps gave 30.0% [13, 47] (seed 0). The bar (3 of 30) leaves a margin under the lowest; copying,
# the untrained editor and painting everything score 0.
CI_RECOLOUR_ACCURACY = 0.1
SHIPPED_RECOLOUR_ACCURACY = 0.35  # the shipped editor on the same 30 pairs: measured 53.3% [37, 70]
EVAL = {"pairs_per_type": 30, "edit_types": ("recolour",), "pair_seed": PAIR_SEED, "steps": 10}


@pytest.fixture(autouse=True)
def one_thread_and_fresh_accelerate_state():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def paint_everything(case) -> np.ndarray:
    """The source with every object pixel painted the colour the instruction names."""
    image = np.asarray(render(case.source_scene, 32)).copy()
    image[(image != np.asarray(BACKGROUND, dtype=np.uint8)).any(-1)] = COLOURS[case.spec["colour"]]
    return image


def test_recipe_learns_recolour_on_a_ci_budget(tmp_path):
    argv = [
        "--config", str(RECIPE), "--output_dir", str(tmp_path / "editor"), "--cache_dir", str(tmp_path / "cache"),
        "--tutorial_base", str(tutorial_editor_checkpoint()), "--tutorial_edit_types", "recolour",
        "--tutorial_train_pairs", "600", "--max_train_steps", str(CI_STEPS), "--tutorial_eval_pairs_per_type", "0",
        "--checkpointing_steps", "0", "--logging_steps", "50",
    ]  # fmt: skip
    summary = train_and_score(make_parser().parse_args_and_config(argv))
    trained = evaluate_synthetic_editing(summary["editor"], tmp_path / "trained", **EVAL)
    untrained = evaluate_synthetic_editing(str(tmp_path / "editor" / "base"), tmp_path / "untrained", **EVAL)
    copied = evaluate_synthetic_editing("baseline:copy", tmp_path / "copy", **EVAL)
    cases = editing_cases(EVAL["pairs_per_type"], seed=PAIR_SEED, edit_types=("recolour",))
    painted = [score_edit(c.source_scene, c.target_scene, c.spec, paint_everything(c)).correct for c in cases]

    accuracy = trained.metrics["accuracy"].value
    print(f"CI-sized tutorial editor: held-out recolour accuracy {trained.metrics['accuracy'].format(percent=True)}")
    assert accuracy >= CI_RECOLOUR_ACCURACY, trained.metrics
    assert untrained.metrics["accuracy"].value <= 0.05, untrained.metrics
    assert copied.metrics["accuracy"].value == 0.0
    assert np.mean(painted) <= 0.05


def test_shipped_editor_loads_and_recolours_fresh_pairs(tmp_path):
    result = evaluate_synthetic_editing(str(tutorial_editor_checkpoint()), tmp_path, **EVAL)
    print(f"shipped tutorial editor: held-out recolour accuracy {result.metrics['accuracy'].format(percent=True)}")
    assert result.metrics["accuracy"].value >= SHIPPED_RECOLOUR_ACCURACY, result.metrics
    recorded = tutorial_editor_scores()["scores"]["edit_type"]
    assert set(recorded) == {"recolour", "move", "resize", "add", "remove"}
