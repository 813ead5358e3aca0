"""SuperEdit's EMA state round-trips through safetensors + JSON (resuming never unpickles our own state)."""

from __future__ import annotations

import pytest
import torch
from diffusers.training_utils import EMAModel

from edit_handbook.superedit.ema_state import EMA_STATE, EMA_WEIGHTS, load_ema, save_ema


def test_ema_round_trips_without_pickle(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    ema = EMAModel(model.parameters(), decay=0.9)
    for _ in range(3):
        for parameter in model.parameters():
            parameter.data += 0.1
        ema.step(model.parameters())
    save_ema(ema, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([EMA_STATE, EMA_WEIGHTS])
    assert b"\x80" not in (tmp_path / EMA_STATE).read_bytes()  # plain JSON, no pickle protocol byte

    restored = EMAModel(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).parameters(), decay=0.5)
    load_ema(restored, tmp_path)
    assert restored.optimization_step == ema.optimization_step == 3 and restored.decay == 0.9
    for mine, theirs in zip(restored.shadow_params, ema.shadow_params):
        assert torch.equal(mine, theirs)


def test_a_checkpoint_of_another_model_or_without_ema_is_refused_with_the_fix(tmp_path):
    ema = EMAModel(torch.nn.Linear(3, 4).parameters())
    with pytest.raises(FileNotFoundError, match="has no ema.safetensors"):
        load_ema(ema, tmp_path)
    save_ema(ema, tmp_path)
    other = EMAModel(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).parameters())
    with pytest.raises(ValueError, match="holds 2 weights, the model has 4"):
        load_ema(other, tmp_path)
