"""Demo stage: the smoke captioner (trained once by the smoke SFT recipe, then cached), checked on held-out pairs."""

from __future__ import annotations

import torch
import yaml

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.fixtures import SMOKE_RECIPE, checker_accuracy, smoke_accuracy, smoke_checkpoint
from edit_handbook.models import load_vlm

from .context import DemoContext


def run(context: DemoContext) -> None:
    print("  training the smoke captioner on CPU (minutes the first time; cached afterwards) ...", flush=True)
    folder = smoke_checkpoint()
    trained = smoke_accuracy(folder)
    print(
        f"  own training pairs: checker accepts {trained['accuracy']:.0%} after {trained['steps']} steps "
        f"({trained['train_seconds']} s when it was trained)"
    )
    config = yaml.safe_load(SMOKE_RECIPE.read_text())
    held_out = generate_dataset(
        32,
        seed=context.seed + 1000,
        image_size=config["dataset_synthetic_image_size"],
        edit_types=tuple(config["dataset_synthetic_edit_types"]),
    )
    model, processor = load_vlm(folder, dtype=torch.float32)
    accuracy, outputs = checker_accuracy(model, processor, held_out)
    print(f"  held-out pairs: checker accepts {accuracy:.0%} (32 training pairs teach little beyond themselves)")
    for text, reference in list(zip(outputs, held_out["instruction"]))[:3]:
        print(f"    model: {text!r}  reference: {reference!r}")
    context.artifacts["captioner"] = folder
    context.record("smoke captioner", folder)
