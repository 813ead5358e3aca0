"""Demo stage: the shipped captioner that sees (trained by the tiny-see SFT recipe), its checker accuracy per
failure mode on some of its training pairs next to fresh ones it never saw."""

from __future__ import annotations

import torch

from edit_handbook.editcaption.callbacks import checker_scores, checker_summary
from edit_handbook.editcaption.inference import describe_edit
from edit_handbook.fixtures import see_captioner_checkpoint, see_captioner_pairs, see_captioner_scores
from edit_handbook.models import load_vlm

from .context import DemoContext


PAIRS = 48


def run(context: DemoContext) -> None:
    folder = see_captioner_checkpoint()
    card = see_captioner_scores()
    print(f"  the shipped captioner (recipes/editcaption/tiny-see, {card.get('steps', '?')} stage-2 steps): {folder}")
    model, processor = load_vlm(folder, dtype=torch.float32)
    for name, seed in (("training", None), ("held-out", context.seed + 1000)):
        pairs = see_captioner_pairs(PAIRS, seed)
        outputs = describe_edit(model, processor, pairs["source_image"], pairs["target_image"], batch_size=16)
        print(f"  {PAIRS} {name} pairs: {checker_summary(checker_scores(outputs, pairs['edit_spec']))}")
    for text, reference in list(zip(outputs, pairs["instruction"]))[:3]:
        print(f"    model: {text!r}  reference: {reference!r}")
    test = card["captioner"]["trained_types"]
    blind = card.get("blind_control", {}).get("trained_types")
    versus = f"; blind control {blind['checker_accuracy']:.0%}" if blind else ""
    print(f"  its card, {test['pairs']} pairs of test seed {card['test_seed']}: {checker_summary(test)}{versus}")
    context.artifacts["captioner"] = folder
    context.record("captioner that sees (shipped)", folder)
