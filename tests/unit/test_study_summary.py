"""The study's aggregation against hand-computed values: rates, paired differences, preference accuracies."""

from __future__ import annotations

import pytest

from edit_handbook.editcaption.study import markdown_table, summarise


def _score(verdicts, chosen, rejected):
    return {"verdict": verdicts, "chosen_logps": chosen, "rejected_logps": rejected}


SFT = _score(["critical", "critical", "major", "correct"], [-5.0, -5.0], [-1.0, -1.0])
PLAIN = [
    _score(["critical", "correct", "major", "correct"], [-2.0, -5.0], [-3.0, -1.0]),
    _score(["critical", "critical", "correct", "correct"], [-2.0, -2.0], [-3.0, -3.0]),
]
HAE = [
    _score(["correct", "correct", "major", "correct"], [-2.0, -2.0], [-3.0, -3.0]),
    _score(["correct", "critical", "correct", "correct"], [-2.0, -2.0], [-3.0, -3.0]),
]
MODES = ["orientation", "orientation", "attribute", "attribute"]


def test_rates_differences_and_preference_accuracy():
    summary = summarise({"plain": PLAIN, "hae": HAE}, SFT, MODES, num_resamples=100)
    assert summary["sft"]["critical"]["all"]["pooled"].value == pytest.approx(0.5)
    assert summary["plain"]["critical"]["all"]["pooled"].value == pytest.approx(3 / 8)
    assert [e.value for e in summary["plain"]["critical"]["all"]["per_seed"]] == pytest.approx([0.25, 0.5])
    assert summary["hae"]["critical"]["orientation"]["pooled"].value == pytest.approx(0.25)
    assert summary["hae"]["critical_vs_sft"]["pooled"].value == pytest.approx(1 / 8 - 0.5)
    assert summary["hae"]["critical_vs_plain"]["pooled"].value == pytest.approx(1 / 8 - 3 / 8)
    assert summary["hae"]["correct_vs_sft"]["pooled"].value == pytest.approx(6 / 8 - 1 / 4)
    assert "critical_vs_plain" not in summary["plain"] and "critical_vs_sft" not in summary["sft"]
    assert summary["sft"]["preference_accuracy"]["pooled"].value == 0.0
    assert summary["plain"]["preference_accuracy"]["pooled"].value == pytest.approx(3 / 4)
    # reward accuracy: delta = (c - c_sft) - (r - r_sft) > 0
    assert summary["plain"]["reward_accuracy"]["pooled"].value == pytest.approx(3 / 4)
    table = markdown_table(summary)
    assert table.count("\n") == 4 and "| hae | 12.5% [" in table


def test_hae_spread_by_hand():
    import math

    from edit_handbook.editcaption.study import hae_spread, hae_spread_line

    gap = [0.5, -1.0, 0.2, -0.3]
    margins = [0.0, 0.0, math.log(3), math.log(3)]  # sigmoid: 0.5, 0.5, 0.75, 0.75 -> q = 0.2, 0.2, 0.3, 0.3
    spread = hae_spread(gap, margins, temperature=1.0, uniform_mix=0.5, eps=0.0)
    assert spread["pairs"] == 4
    assert spread["reference_prefers_mistake"] == pytest.approx(0.5)
    assert spread["median_gap_nats_per_token"] == pytest.approx(-0.05)
    assert spread["margin"] == pytest.approx({"min": 0.0, "mean": math.log(3) / 2, "max": math.log(3)})
    assert spread["sampler_max_over_min"] == pytest.approx(0.275 / 0.225)  # p = 0.5 q + 0.5 / 4
    assert "50%" in hae_spread_line(spread) and "1.22x" in hae_spread_line(spread)
    assert hae_spread_line(None).startswith("Not measured")
