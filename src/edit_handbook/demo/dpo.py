"""Demo stage: HAE-DPO from the captioner that sees (recipes/editcaption/tiny-see/dpo); held-out accuracy and
critical-error rate before and after (the study's verdicts, docs/editcaption_study.md)."""

from __future__ import annotations

import json

import torch

from edit_handbook.dpo import main as dpo_main
from edit_handbook.editcaption.study import benchmark_rates
from edit_handbook.fixtures import SEE_DPO_RECIPE, see_captioner_checkpoint, see_captioner_pairs, training_pairs
from edit_handbook.models import load_vlm

from .context import DemoContext


def run(context: DemoContext) -> None:
    captioner = context.artifacts.get("captioner") or see_captioner_checkpoint()
    output_dir = context.output_dir / "dpo"
    # The demo owns its folder and retrains every run: recompute the reference too, so that a new shipped
    # captioner (after a pull) never meets the previous one's stored log-probs.
    dpo_main(
        [
            "--config", str(SEE_DPO_RECIPE), "--model_name_or_path", str(captioner),
            "--output_dir", str(output_dir), "--reference_overwrite", "true",
        ]
    )  # fmt: skip
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    last = [entry for entry in history if "rewards/accuracies" in entry][-1]
    print(
        f"  training pairs at step {last['step']}: reward accuracy {last['rewards/accuracies']:.0%}, implicit reward "
        f"margin {last['rewards/margins']:.3f} (critical {last.get('rewards/margins/critical', float('nan')):.3f})"
    )
    pairs = training_pairs(SEE_DPO_RECIPE)
    held_out = see_captioner_pairs(64, context.seed + 2000)
    for label, folder in (("before DPO (SFT)", captioner), ("after HAE-DPO", output_dir)):
        model, processor = load_vlm(folder, dtype=torch.float32)
        for name, data in (("held-out", held_out), ("training", pairs)):
            rates = benchmark_rates(model, processor, data)
            print(
                f"  {label}, {rates['n']} {name} pairs: checker accepts {rates['correct']:.0%}, "
                f"critical errors {rates['critical']:.0%} (docs/editcaption_study.md's verdicts)"
            )
    context.artifacts["dpo_captioner"] = output_dir
    context.record("HAE-DPO captioner", output_dir)
