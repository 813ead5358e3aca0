"""The SuperEdit study's summary on hand-made verdicts: pooled rates, per type, paired differences."""

from __future__ import annotations

import pytest

from edit_handbook.superedit.study import headline_table, summarise, verdict_table


def item(kind: str, correct: bool, wrong: bool | None = None) -> dict:
    row = {"edit_type": kind, "correct": correct, "preserved": True, "changed": correct}
    if wrong is not None:
        row["wrong_followed"] = wrong
    return row


# Two seeds x four items: recolour, recolour, move, move.
REFERENCE = [
    [item("recolour", True, True), item("recolour", False, False), item("move", False), item("move", False)],
    [item("recolour", True, True), item("recolour", True, False), item("move", False), item("move", True)],
]
BETTER = [
    [item(r["edit_type"], True, True) if "wrong_followed" in r else item("move", True) for r in s] for s in REFERENCE
]


def test_rates_are_pooled_over_seeds_and_items_and_differences_are_paired():
    summary = summarise({"reference": REFERENCE, "better": BETTER}, num_resamples=200)
    assert summary["reference"]["correct"]["pooled"].value == pytest.approx(4 / 8)
    assert [e.value for e in summary["reference"]["correct"]["per_seed"]] == [0.25, 0.75]
    assert summary["reference"]["correct"]["edit_type"]["recolour"].value == pytest.approx(3 / 4)
    assert summary["reference"]["correct"]["edit_type"]["move"].value == pytest.approx(1 / 4)
    assert summary["reference"]["wrong_followed"]["pooled"].value == pytest.approx(2 / 4)  # recolours only
    assert summary["better"]["correct_vs_reference"].value == pytest.approx(4 / 8)
    assert "correct_vs_reference" not in summary["reference"]
    assert "| better | 100.0%" in headline_table(summary)


def test_seeds_that_scored_different_items_are_refused():
    with pytest.raises(ValueError, match="same pairs"):
        verdict_table([REFERENCE[0], REFERENCE[1][:3]], "correct")
