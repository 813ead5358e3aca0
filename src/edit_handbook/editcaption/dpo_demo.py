"""The demo's DPO stage: HAE-DPO's smoke recipe from the smoke captioner, and the checker before and after."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from edit_handbook.demo import DemoContext, demo_stage


PACKAGE = Path(__file__).resolve().parents[1]
SMOKE_DPO_RECIPE = PACKAGE.parents[1] / "recipes" / "editcaption" / "smoke" / "dpo" / "config_smoke.yaml"


@demo_stage(
    "dpo", order=30, description="HAE-DPO from the smoke captioner (CPU smoke recipe); checker before and after"
)
def dpo_stage(context: DemoContext) -> None:
    from edit_handbook.dpo import main as dpo_main
    from edit_handbook.editcaption.smoke import checker_accuracy, smoke_checkpoint, training_pairs
    from edit_handbook.models import load_vlm

    captioner = context.artifacts.get("captioner") or smoke_checkpoint()
    output_dir = context.output_dir / "dpo"
    dpo_main(
        ["--config", str(SMOKE_DPO_RECIPE), "--model_name_or_path", str(captioner), "--output_dir", str(output_dir)]
    )
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    last = [entry for entry in history if "rewards/accuracies" in entry][-1]
    print(
        f"  training pairs at step {last['step']}: reward accuracy {last['rewards/accuracies']:.0%}, implicit reward "
        f"margin {last['rewards/margins']:.3f} (critical {last.get('rewards/margins/critical', float('nan')):.3f})"
    )
    pairs = training_pairs()
    for label, folder in (("before DPO (SFT)", captioner), ("after HAE-DPO", output_dir)):
        model, processor = load_vlm(folder, dtype=torch.float32)
        accuracy, _ = checker_accuracy(model, processor, pairs)
        print(f"  checker accepts {accuracy:.0%} of greedy instructions {label} on the {len(pairs)} smoke pairs")
    context.artifacts["dpo_captioner"] = output_dir
    context.record("HAE-DPO captioner", output_dir)
