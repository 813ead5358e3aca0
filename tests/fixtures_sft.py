"""Session-scoped SFT fixtures (registered in `tests/conftest.py`).

`sft_smoke_checkpoint` is the captioner trained by the smoke recipe. It is cached on disk in the project
cache (`$EDIT_HANDBOOK_CACHE`, else `~/.cache/edit_handbook`), not in the session's temporary folder, keyed
by the recipe and the training code: the first session trains it (minutes on CPU), later ones reuse it.
DPO, synthesis, evaluation and demo tests take it to work with meaningful outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edit_handbook.editcaption.smoke_model import smoke_tokenizer_path
from edit_handbook.fixtures import smoke_checkpoint
from edit_handbook.models import tiny_qwen3_vl


@pytest.fixture(scope="session")
def sft_smoke_checkpoint() -> Path:
    """Folder of the trained smoke captioner (model, processor, card, `smoke_accuracy.json`)."""
    return smoke_checkpoint()


@pytest.fixture(scope="session")
def tiny_small_vocab_qwen3_vl_path(model_cache_dir: Path) -> Path:
    """An untrained tiny Qwen3-VL with the small synthetic-vocabulary tokenizer: fast steps for plumbing tests."""
    return tiny_qwen3_vl(smoke_tokenizer_path(cache_dir=model_cache_dir), cache_dir=model_cache_dir)


# The tiny-see recipe's stage 0 at CI size (measured with the recipe as written on 2 cores: held-out shape 41% at
# 500 steps, chance 20%; 86% at the recipe's 4,000).
SEE_STAGE0_CI_STEPS = 500


@pytest.fixture(scope="session")
def see_stage0_ci(tmp_path_factory) -> Path:
    """Stage 0 of the tiny-see recipe as written, CI-sized: the VLM with its pre-trained vision tower."""
    from edit_handbook.pretrain_vision import main

    recipe = Path(__file__).resolve().parents[1] / "recipes/editcaption/tiny-see/vision/config_vision.yaml"
    output = tmp_path_factory.mktemp("see-stage0")
    overrides = ["--max_steps", str(SEE_STAGE0_CI_STEPS), "--eval_every", "0", "--eval_pairs", "64"]
    assert main(["--config", str(recipe), "--output_dir", str(output), *overrides, "--save_strategy", "no"]) == 0
    return output
