"""Trained tiny fixtures: the smoke captioner (the tiny model after the smoke SFT recipe), built once and cached.

The demo, the tests and the Space's `--tiny` mode need a captioner whose outputs mean something, not random
tokens. This module sits beside the demo, above the method packages: it runs the entry scripts (`sft.main`), and
no method package imports it. Training takes minutes on a CPU, so the checkpoint is cached under a key made of the
recipe's text, the code that shapes training (this package's SFT, prompts, tiny-model and synthetic-data
modules) and the library versions: a rerun reuses it, any change retrains it. The folder also holds
`smoke_accuracy.json`: the exact checker's verdict on the model's own greedy outputs for its training pairs.

Two checkpoints are shipped instead, trained once by their recipes and never retrained when code changes, since
their recipes take longer than a demo may: the tutorial editor (`tiny:tutorial-editor`, `checkpoints/tutorial-editor`,
about 7 CPU-minutes, made by `scripts/ship_tutorial_editor.py`) and the captioner that sees (`tiny:see-captioner`,
`checkpoints/captioner-tiny-see`, recipes/editcaption/tiny-see, made by `scripts/ship_captioner.py`), which the
demo and the Space's `--tiny` mode use. Each folder's card and `scores.json` hold its held-out figures.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from edit_handbook.data.synthetic import check_instruction, generate_dataset
from edit_handbook.models.cache import cached_build
from edit_handbook.models.registry import register_tiny_model


PACKAGE = Path(__file__).resolve().parent
RECIPES = PACKAGE.parents[1] / "recipes" / "editcaption" / "smoke"
SMOKE_RECIPE = RECIPES / "sft" / "config_smoke.yaml"
SMOKE_DPO_RECIPE = RECIPES / "dpo" / "config_smoke.yaml"
SEE_SFT_RECIPE = RECIPES.parent / "tiny-see" / "sft" / "config_caption.yaml"
SEE_DPO_RECIPE = RECIPES.parent / "tiny-see" / "dpo" / "config_dpo.yaml"
# Code whose changes change the trained checkpoint (not the whole package: unrelated edits must not retrain).
_TRAINING_CODE = (
    "sft.py",
    "script_utils.py",
    "editcaption/configs.py",
    "editcaption/prompts.py",
    "editcaption/sft_data.py",
    "editcaption/modeling.py",
    "editcaption/smoke_model.py",
    "editcaption/callbacks.py",
    "editcaption/inference.py",
    "fixtures.py",
    "models",
    "data/synthetic",
    "data/loading.py",
)
ACCURACY_FILE = "smoke_accuracy.json"
# The trained smoke captioner's name in the models registry (the Space's `--tiny` captioner).
SMOKE_CAPTIONER = "tiny:smoke-captioner"


def _code_hash() -> str:
    digest = hashlib.sha256()
    for entry in _TRAINING_CODE:
        path = PACKAGE / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(PACKAGE)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def training_pairs(recipe: Path = SMOKE_RECIPE):
    """The synthetic pairs the smoke recipe trains on (same generator arguments as the recipe)."""
    import yaml

    config = yaml.safe_load(recipe.read_text())
    return generate_dataset(
        config["dataset_synthetic_pairs"],
        seed=config.get("dataset_seed", 0),
        image_size=config["dataset_synthetic_image_size"],
        edit_types=tuple(config["dataset_synthetic_edit_types"]),
    )


def checker_accuracy(model, processor, pairs, batch_size: int = 32) -> tuple[float, list[str]]:
    """Share of greedy `caption` outputs the exact checker accepts, and the outputs."""
    from edit_handbook.editcaption.inference import describe_edit

    outputs = describe_edit(model, processor, pairs["source_image"], pairs["target_image"], batch_size=batch_size)
    correct = sum(check_instruction(text, spec).correct for text, spec in zip(outputs, pairs["edit_spec"]))
    return correct / len(outputs), outputs


def _train(folder: Path, recipe: Path) -> None:
    import torch

    from edit_handbook.models import load_vlm
    from edit_handbook.sft import main

    start = time.perf_counter()
    main(["--config", str(recipe), "--output_dir", str(folder)])
    seconds = time.perf_counter() - start
    model, processor = load_vlm(folder, dtype=torch.float32)
    accuracy, outputs = checker_accuracy(model, processor, training_pairs(recipe))
    state = json.loads((folder / "trainer_state.json").read_text())
    record = {"accuracy": accuracy, "steps": state["global_step"], "train_seconds": round(seconds, 1)}
    (folder / ACCURACY_FILE).write_text(json.dumps({**record, "outputs": outputs}, indent=2))


def smoke_checkpoint(cache_dir: str | Path | None = None, recipe: Path = SMOKE_RECIPE) -> Path:
    """Folder of the trained smoke captioner (model, processor, card, `smoke_accuracy.json`), trained if missing."""
    import torch
    import transformers
    import trl

    if not recipe.is_file():
        raise FileNotFoundError(f"smoke recipe {recipe} not found: run from a source checkout of edit-handbook")
    payload = {
        "recipe": hashlib.sha256(recipe.read_bytes()).hexdigest()[:16],
        "code": _code_hash(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }
    return cached_build("checkpoints/sft-smoke", payload, lambda folder: _train(folder, recipe), cache_dir)


def smoke_accuracy(folder: str | Path) -> dict:
    return json.loads((Path(folder) / ACCURACY_FILE).read_text())


register_tiny_model(SMOKE_CAPTIONER, smoke_checkpoint)

TUTORIAL_EDITOR = "tiny:tutorial-editor"
TUTORIAL_EDITOR_FOLDER = PACKAGE / "checkpoints" / "tutorial-editor"
# The captioner that sees (recipes/editcaption/tiny-see): the demo's and the Space's `--tiny` captioner.
SEE_CAPTIONER = "tiny:see-captioner"
SEE_CAPTIONER_FOLDER = PACKAGE / "checkpoints" / "captioner-tiny-see"


def _shipped(folder: Path, marker: str, script: str) -> Path:
    if not (folder / marker).is_file():
        raise FileNotFoundError(
            f"the shipped checkpoint is missing from {folder}: reinstall edit-handbook, or remake it with {script}"
        )
    return folder


def tutorial_editor_checkpoint() -> Path:
    """Folder of the shipped tutorial editor (a diffusers InstructPix2Pix pipeline, fp16 weights: load in fp32)."""
    return _shipped(TUTORIAL_EDITOR_FOLDER, "model_index.json", "scripts/ship_tutorial_editor.py")


def tutorial_editor_scores() -> dict:
    """The shipped editor's held-out figures (`scores.json`: per edit type, with intervals)."""
    return json.loads((tutorial_editor_checkpoint() / "scores.json").read_text())


def see_captioner_checkpoint() -> Path:
    """Folder of the shipped captioner that sees (a transformers Qwen3-VL checkpoint with its processor)."""
    return _shipped(SEE_CAPTIONER_FOLDER, "model.safetensors", "scripts/ship_captioner.py")


def see_captioner_scores() -> dict:
    """The shipped captioner's test-seed figures (`scores.json`: trained edit types, image size, blind control)."""
    return json.loads((see_captioner_checkpoint() / "scores.json").read_text())


def see_captioner_pairs(count: int, seed: int | None = None):
    """Synthetic pairs of the edit types and image size the shipped captioner was trained on. With no seed, the
    first pairs of its SFT recipe's `dataset_seed`: its own first training pairs."""
    import yaml

    if seed is None:
        seed = yaml.safe_load(SEE_SFT_RECIPE.read_text())["dataset_seed"]
    card = see_captioner_scores()
    return generate_dataset(count, seed=seed, image_size=card["image_size"], edit_types=card["trained_types"])


register_tiny_model(TUTORIAL_EDITOR, tutorial_editor_checkpoint)
register_tiny_model(SEE_CAPTIONER, see_captioner_checkpoint)
