"""Aggregates with bootstrap confidence intervals: pure functions of lists of numbers, seeded.

A percentile bootstrap (resample the items with replacement, take the statistic, read the interval off the
sorted resampled statistics) works the same for a mean score and for a rate (the mean of 0/1 values), and
for several systems scored on the same items `paired_difference` resamples items jointly, which is what
"captioner A beats captioner B on these pairs" needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A statistic over `n` items with its bootstrap interval [`low`, `high`]; all NaN when `n` is 0."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return {key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in asdict(self).items()}

    def format(self, digits: int = 3, percent: bool = False) -> str:
        """`0.812 [0.750, 0.870]` (or `81.2% [75.0, 87.0]`); `n/a` when there were no items."""
        if self.n == 0:
            return "n/a"
        if percent:
            return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _clean(values: Sequence[float | bool | None]) -> np.ndarray:
    """Drop None/NaN (an unusable judge answer is not a zero) and cast booleans to 0/1."""
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return np.asarray(kept, dtype=np.float64)


def bootstrap_interval(
    values: Sequence[float | bool | None],
    *,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`; (nan, nan) for no values, (v, v) for one."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = _clean(values)
    if data.size == 0:
        return math.nan, math.nan
    if data.size == 1 or num_resamples <= 0:
        return float(data.mean()), float(data.mean())
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(num_resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def estimate(
    values: Sequence[float | bool | None],
    *,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Estimate:
    """The mean of `values` (None/NaN dropped) with its bootstrap interval. A rate is the mean of booleans."""
    data = _clean(values)
    if data.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    low, high = bootstrap_interval(data, num_resamples=num_resamples, confidence=confidence, seed=seed)
    return Estimate(float(data.mean()), low, high, int(data.size))


def paired_difference(
    first: Sequence[float | None],
    second: Sequence[float | None],
    *,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Estimate:
    """Mean of `first[i] - second[i]` over items both scored, with a bootstrap interval over items."""
    if len(first) != len(second):
        raise ValueError(f"paired scores need the same items: {len(first)} != {len(second)} values")
    differences = [
        None if a is None or b is None or math.isnan(float(a)) or math.isnan(float(b)) else float(a) - float(b)
        for a, b in zip(first, second)
    ]
    return estimate(differences, num_resamples=num_resamples, confidence=confidence, seed=seed)


def seed_item_estimate(
    values: Sequence[Sequence[float]] | np.ndarray,
    *,
    num_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Estimate:
    """Mean of a (seeds x items) table with a bootstrap interval that resamples seeds and items together.

    Each resample draws seeds (rows) and items (columns) with replacement, independently, and takes the mean of
    the crossed table: the interval covers both run-to-run variation (training seeds) and the choice of test
    items. For a paired difference pass the table of per-item differences. One seed: items only. `n` is the
    number of cells.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    table = np.asarray(values, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"expected a (seeds x items) table, got shape {table.shape}")
    if table.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if not np.all(np.isfinite(table)):
        raise ValueError("the seeds x items table has missing values: score every item of every seed")
    seeds, items = table.shape
    value = float(table.mean())
    if table.size == 1 or num_resamples <= 0:
        return Estimate(value, value, value, int(table.size))
    rng = np.random.default_rng(seed)
    row_counts = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=num_resamples)
    column_counts = rng.multinomial(items, np.full(items, 1 / items), size=num_resamples)
    means = np.einsum("rs,sn,rn->r", row_counts, table, column_counts) / (seeds * items)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Estimate(value, float(low), float(high), int(table.size))
