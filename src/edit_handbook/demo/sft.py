"""Demo stage: the shipped captioner that sees (trained by the tiny-see SFT recipe), its checker accuracy per
failure mode on some of its training pairs next to fresh ones it never saw."""

from __future__ import annotations

import torch

from edit_handbook.data.synthetic import FAILURE_MODE, generate_dataset
from edit_handbook.editcaption.callbacks import checker_scores
from edit_handbook.editcaption.inference import describe_edit
from edit_handbook.fixtures import see_captioner_checkpoint, see_captioner_scores
from edit_handbook.models import load_vlm

from .context import DemoContext


PAIRS = 48
TRAINING_SEED = 0  # the recipe's dataset_seed: the first pairs of this seed are its first training pairs


def _line(scores: dict) -> str:
    modes = sorted(set(FAILURE_MODE.values()))
    per_mode = ", ".join(
        f"{m} {scores[f'checker_accuracy/{m}']:.0%}" for m in modes if f"checker_accuracy/{m}" in scores
    )
    return f"checker accepts {scores['checker_accuracy']:.0%} ({per_mode})"


def run(context: DemoContext) -> None:
    folder = see_captioner_checkpoint()
    card = see_captioner_scores()
    types, size = card["trained_types"], card["image_size"]
    print(f"  the shipped captioner (recipes/editcaption/tiny-see, {card.get('steps', '?')} stage-2 steps): {folder}")
    model, processor = load_vlm(folder, dtype=torch.float32)
    for name, seed in (("training", TRAINING_SEED), ("held-out", context.seed + 1000)):
        pairs = generate_dataset(PAIRS, seed=seed, image_size=size, edit_types=types)
        outputs = describe_edit(model, processor, pairs["source_image"], pairs["target_image"], batch_size=16)
        print(f"  {PAIRS} {name} pairs: {_line(checker_scores(outputs, pairs['edit_spec']))}")
    for text, reference in list(zip(outputs, pairs["instruction"]))[:3]:
        print(f"    model: {text!r}  reference: {reference!r}")
    test = card["captioner"]["trained_types"]
    blind = card.get("blind_control", {}).get("trained_types")
    versus = f"; blind control {blind['checker_accuracy']:.0%}" if blind else ""
    print(f"  its card, {test['pairs']} pairs of test seed {card['test_seed']}: {_line(test)}{versus}")
    context.artifacts["captioner"] = folder
    context.record("captioner that sees (shipped)", folder)
