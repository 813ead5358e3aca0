"""A CI-sized run of the EditCaption study (1 seed, plain DPO, small): DPO moves what it trains on, on fresh pairs.

From the shipped captioner that sees (`tiny:see-captioner`, the study's default), plain DPO with the study's
settings on preference pairs of the captioner's own mistakes on its training pairs; scored on fresh pairs (a seed
used for nothing else). Asserted: neither the held-out correct rate nor the held-out preference accuracy of the
reference over the model's own mistakes falls by more than TOLERANCE (that DPO learns its training preferences is
tests/integration/test_dpo_learns.py). Also: the report has every section (the HAE room diagnostic included), and
a rerun reuses every finished arm.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edit_handbook.replicate import STAMP, ReplicationArguments, run_study


# Measured here (2026-12-03, the captioner shipped that day: 76.6% on its test pairs, alone on 2 cores): preference
# accuracy 0.47 -> 0.49, reward accuracy 0.50, correct rate 0.71 -> 0.68. With the 64.1% captioner before it: 0.43 ->
# 0.46 and 0.66 -> 0.63; with the 38.7% one: 0.35 -> 0.55 and 0.40 -> 0.34. On the better captioners the study's DPO
# recipe (lr 1e-4, 60 steps, tuned on the 38.7% one) barely moves held-out preferences. TOLERANCE guards against
# the collapse DPO without an NLL term showed (100% -> 38% in the old demo), not a claim that DPO helps.
TOLERANCE = 0.10  # held-out correct rate and preference accuracy may each fall by at most 10 points


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    args = ReplicationArguments(
        output_dir=str(tmp_path_factory.mktemp("study")),
        dpo_args=["--logging_steps", "20", "--disable_tqdm", "true"],  # the study's DPO recipe otherwise
        arms=["plain"],
        seeds=[0],
        preference_pairs=512,
        preference_samples=2,
        test_pairs=256,
        num_resamples=200,
    )
    return args, run_study(args)


def test_dpo_keeps_the_captioner_on_fresh_pairs(study):
    _, report = study
    sft, plain = report["results"]["sft"], report["results"]["plain"]
    before = sft["preference_accuracy"]["pooled"]["value"]
    after = plain["preference_accuracy"]["pooled"]["value"]
    print(
        f"held-out preference accuracy: SFT {before:.2f} -> plain DPO {after:.2f}; reward accuracy "
        f"{plain['reward_accuracy']['pooled']['value']:.2f}; correct {sft['correct']['all']['pooled']['value']:.2f} -> "
        f"{plain['correct']['all']['pooled']['value']:.2f}"
    )
    assert after >= before - TOLERANCE
    correct_before, correct_after = (
        sft["correct"]["all"]["pooled"]["value"],
        plain["correct"]["all"]["pooled"]["value"],
    )
    assert correct_after >= correct_before - TOLERANCE


def test_report_and_resume(study, monkeypatch):
    args, report = study
    for key in ("commit", "versions", "threads", "design", "data"):
        assert key in report
    assert report["data"]["own_mistakes"]["rows"] > 0
    assert set(report["results"]["plain"]) >= {"critical", "correct", "critical_vs_sft", "preference_accuracy"}
    assert "seeds and items resampled" in (Path(args.output_dir) / "report.md").read_text()
    assert json.loads((Path(args.output_dir) / STAMP).read_text())["dpo_args"] == args.dpo_args
    spread = report["hae_spread"]
    assert spread["pairs"] == report["data"]["own_mistakes"]["rows"]
    assert 0 < spread["margin"]["min"] <= spread["margin"]["max"] and spread["sampler_max_over_min"] >= 1

    import edit_handbook.dpo

    def no_training(*_, **__):
        raise AssertionError("a finished arm was trained again")

    monkeypatch.setattr(edit_handbook.dpo, "main", no_training)
    again = run_study(args)
    assert json.dumps(again["results"]) == json.dumps(report["results"])
