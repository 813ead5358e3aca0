"""Aggregates and bootstrap intervals against hand-computed values."""

import math

import numpy as np
import pytest

from edit_handbook.evaluation.stats import (
    Estimate,
    bootstrap_interval,
    estimate,
    paired_difference,
    seed_item_estimate,
)


def test_mean_and_rate_drop_missing_values():
    assert estimate([4, 5, None, float("nan"), 3]).value == 4.0
    rate = estimate([True, False, True, True])
    assert (rate.value, rate.n) == (0.75, 4)


def test_no_values_give_nan_and_format_as_not_available():
    empty = estimate([None])
    assert empty.n == 0 and math.isnan(empty.value) and math.isnan(empty.low)
    assert empty.format() == "n/a"
    assert empty.to_dict() == {"value": None, "low": None, "high": None, "n": 0}


def test_constant_and_single_values_have_a_zero_width_interval():
    assert bootstrap_interval([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert bootstrap_interval([2.5]) == (2.5, 2.5)


def test_two_point_bootstrap_matches_its_exact_distribution():
    # Resampling [0, 1] twice gives a mean of 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the 30% and 70%
    # quantiles (a 40% interval) are both 0.5, and a 95% interval spans [0, 1].
    assert bootstrap_interval([0, 1], confidence=0.4, num_resamples=20000) == (0.5, 0.5)
    assert bootstrap_interval([0, 1], confidence=0.95, num_resamples=20000) == (0.0, 1.0)


def test_interval_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(1).normal(3.0, 1.0, size=200).tolist()
    first, second = estimate(values, seed=7), estimate(values, seed=7)
    assert first == second
    assert first.low < first.value < first.high
    # The normal approximation: half-width ~ 1.96 * sd / sqrt(n).
    half_width = 1.96 * np.std(values, ddof=1) / math.sqrt(len(values))
    assert (first.high - first.low) / 2 == pytest.approx(half_width, rel=0.15)


def test_paired_difference_uses_items_both_systems_scored():
    result = paired_difference([5, 4, None, 3], [4, 4, 2, None])
    assert (result.value, result.n) == (0.5, 2)
    with pytest.raises(ValueError, match="same items"):
        paired_difference([1, 2], [1])


def test_formatting():
    e = Estimate(0.8125, 0.75, 0.875, 16)
    assert e.format() == "0.812 [0.750, 0.875]"
    assert e.format(percent=True) == "81.2% [75.0, 87.5]"
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_interval([1, 2], confidence=1.5)


def test_seed_item_estimate_resamples_seeds_and_items():
    rng = np.random.default_rng(0)
    items = rng.random(200) < 0.4
    one_seed = seed_item_estimate([items])
    flat = estimate(items)
    assert one_seed.value == pytest.approx(flat.value)
    assert one_seed.low == pytest.approx(flat.low, abs=0.02) and one_seed.high == pytest.approx(flat.high, abs=0.02)
    # seeds that disagree widen the interval beyond what the items alone give
    shifted = np.stack([items, items, np.ones(200)])
    pooled = seed_item_estimate(shifted)
    assert pooled.value == pytest.approx(shifted.mean())
    assert pooled.high - pooled.low > 2 * (one_seed.high - one_seed.low)
    assert seed_item_estimate(np.ones((3, 5))).to_dict() == {"value": 1.0, "low": 1.0, "high": 1.0, "n": 15}
    with pytest.raises(ValueError, match="missing values"):
        seed_item_estimate([[1.0, float("nan")]])
