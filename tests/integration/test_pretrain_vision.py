"""A CI-sized run of the tiny-see recipe's stage 0 (the `see_stage0_ci` fixture: the recipe as written, fewer
steps) teaches the vision tower shape, and saves a VLM that is otherwise the base model, ready for stage 1."""

import json

import pytest
import torch
from tests.fixtures_sft import SEE_STAGE0_CI_STEPS

from edit_handbook.editcaption.smoke_model import SEE_MODEL
from edit_handbook.models import load_vlm
from edit_handbook.models.registry import resolve_model
from edit_handbook.pretrain_vision import SCORES


MIN_SHAPE = 0.33  # measured 41% at 500 steps (chance 20%)


@pytest.mark.slow
def test_ci_sized_stage_0_teaches_shape_and_changes_only_the_vision_tower(see_stage0_ci):
    final = json.loads((see_stage0_ci / SCORES).read_text())["held_out"][-1]
    assert final["step"] == SEE_STAGE0_CI_STEPS
    assert final["shape"] >= MIN_SHAPE and final["colour"] >= 0.9, final

    trained, _ = load_vlm(see_stage0_ci, dtype=torch.float32)
    base, _ = load_vlm(resolve_model(SEE_MODEL), dtype=torch.float32)
    before, after = base.state_dict(), trained.state_dict()
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(".visual." in name for name in changed), sorted(changed)[:5]
    assert any(".visual.merger." in name for name in changed)
