"""Evidence that HAE-DPO learns (fixed seeds): from the SFT smoke checkpoint, on synthetic preference pairs.

Plain DPO and full HAE run the CPU smoke recipe (`edit-handbook dpo`, sharing one stored reference pass); both
are scored with the implicit reward margin beta * ([log pi(y_w) - log pi_ref(y_w)] - [log pi(y_l) -
log pi_ref(y_l)]): reward accuracy on held-out pairs (other images, same edit types), and the mean margin per
severity on the training pairs (printed; see the test for why it is not asserted).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.data.writer import load_shards
from edit_handbook.dpo import main as dpo_main
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.reference_pass import run_reference_pass
from edit_handbook.fixtures import SMOKE_DPO_RECIPE
from edit_handbook.models import load_vlm


VARIANTS = {"plain": ["--margin_gamma", "0", "--hard_example_sampler", "false"], "hae": []}


def _log_probs(folder, examples, out):
    model, processor = load_vlm(folder, dtype=torch.float32)
    rows = run_reference_pass(model, processor, examples, out, fingerprint=str(folder), batch_size=32)
    return np.asarray(list(rows["ref_chosen_logps"])), np.asarray(list(rows["ref_rejected_logps"]))


def _pairs(recipe, num_pairs, seed):
    pairs = generate_dataset(num_pairs, seed=seed, image_size=64, edit_types=recipe["dataset_synthetic_edit_types"])
    return to_preference_examples(preference_pairs(pairs))


def held_out_rewards(checkpoint, tmp_path) -> dict:
    recipe = yaml.safe_load(SMOKE_DPO_RECIPE.read_text())
    beta = recipe["beta"]
    held_out = _pairs(recipe, 16, seed=1)
    training = _pairs(recipe, recipe["dataset_synthetic_pairs"], recipe["dataset_seed"])
    critical = np.asarray(list(held_out["severity"])) == "critical"
    training_severity = np.asarray(list(training["severity"]))
    training_critical = training_severity == "critical"
    ref_chosen, ref_rejected = _log_probs(checkpoint, held_out, tmp_path / "held_out_reference")
    results = {"held_out_pairs": len(held_out), "training_pairs": len(training)}
    for name, overrides in VARIANTS.items():
        output = tmp_path / name
        dpo_main(
            [
                "--config",
                str(SMOKE_DPO_RECIPE),
                "--model_name_or_path",
                str(checkpoint),
                "--output_dir",
                str(output),
                "--reference_dir",
                str(tmp_path / "reference"),
                *overrides,
            ]
        )
        chosen, rejected = _log_probs(output, held_out, tmp_path / f"held_out_{name}")
        reward_margin = beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
        stored = load_shards(tmp_path / "reference" / "train", order=list(training["id"]))  # the run's own pass
        train_chosen, train_rejected = _log_probs(output, training, tmp_path / f"training_{name}")
        train_margin = beta * (
            (train_chosen - np.asarray(list(stored["ref_chosen_logps"])))
            - (train_rejected - np.asarray(list(stored["ref_rejected_logps"])))
        )
        results[name] = {
            "reward_accuracy": float((reward_margin > 0).mean()),
            "critical_margin": float(train_margin[training_critical].mean()),
            "held_out_critical_margin": float(reward_margin[critical].mean()),
            "held_out_margin": float(reward_margin.mean()),
            "policy_preference_accuracy": float((chosen > rejected).mean()),
            "margin_by_severity": {
                severity: float(train_margin[training_severity == severity].mean())
                for severity in sorted(set(training_severity))
            },
            "train_seconds": json.loads((output / "train_results.json").read_text())["train_runtime"],
        }
    results["sft_policy_preference_accuracy"] = float((ref_chosen > ref_rejected).mean())
    return results


@pytest.mark.slow
def test_plain_and_hae_dpo_raise_held_out_reward_accuracy(sft_smoke_checkpoint, tmp_path):
    results = held_out_rewards(sft_smoke_checkpoint, tmp_path)
    print(json.dumps(results, indent=2))
    for name in VARIANTS:  # before DPO the policy is the reference: every margin is 0, reward accuracy 0
        assert results[name]["reward_accuracy"] > 0.6, results
    # Not asserted: that HAE widens the critical pairs' margins more than plain DPO. At this scale the sign of
    # that difference depends on floating-point summation order: measured 2026-11-23 (critical-pair train
    # margin, HAE vs plain) 2.22 vs 2.37 with 2 threads, 1.83 vs 2.27 with 1 thread; margin alone (no
    # sampler) 2.20 vs 2.37 and 2.45 vs 2.27. The comparison is printed above for whoever runs it at scale.
