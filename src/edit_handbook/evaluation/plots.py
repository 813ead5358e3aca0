"""PNG plots of evaluation results: bars per group with bootstrap intervals, and grids of the best and worst items.

Bars: one figure per suite and breakdown (error type, failure mode, edit type...), one panel per metric,
systems side by side, the interval drawn as an error bar. Grids: the first two images of each item (source and
target or edit) with its rank value and instruction underneath, through the dataset preview (`data.preview`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global backend or display, files are drawn with Agg
from PIL import Image

from edit_handbook.data import schema
from edit_handbook.data.preview import example_grid
from edit_handbook.evaluation.results import SuiteResult


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"


def group_bars(results: Sequence[SuiteResult], by: str, path: str | Path) -> Path | None:
    """Bars of every metric of breakdown `by` for several systems of one suite; None when there is nothing."""
    tables = [result.groups.get(by, {}) for result in results]
    groups = sorted({group for table in tables for group in table})
    metrics = list(dict.fromkeys(name for table in tables for values in table.values() for name in values))
    if not groups or not metrics:
        return None
    width = 0.8 / len(results)
    figure = Figure(figsize=(max(6.0, 0.5 * len(groups) * len(results) + 2), 2.6 * len(metrics)))
    axes = figure.subplots(len(metrics), 1, squeeze=False)
    x = np.arange(len(groups))
    for axis, metric in zip(axes[:, 0], metrics):
        for k, (result, table) in enumerate(zip(results, tables)):
            values, low, high = [], [], []
            for group in groups:
                value = table.get(group, {}).get(metric)
                ok = value is not None and value.n > 0 and not math.isnan(value.value)
                values.append(value.value if ok else np.nan)
                low.append(value.value - value.low if ok else 0.0)
                high.append(value.high - value.value if ok else 0.0)
            axis.bar(x + (k - (len(results) - 1) / 2) * width, values, width, yerr=[low, high], capsize=3,
                     label=result.system)  # fmt: skip
        axis.set_title(f"{metric} by {by}", fontsize=10)
        axis.set_xticks(x, groups, rotation=30 if len(groups) > 6 else 0, fontsize=8)
        axis.grid(axis="y", alpha=0.3)
    if len(results) > 1:
        axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def _image_path(result: SuiteResult, value: str, base: Path) -> Path:
    path = Path(value)
    if path.is_absolute():
        return path
    return Path(result.meta.get("image_root") or base) / path


def _rank_value(item: dict, key: str) -> float | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return None
    return float(value)


def item_grid(
    result: SuiteResult, path: str | Path, *, best: bool, count: int = 8, base: str | Path = "."
) -> Path | None:
    """A grid of the `count` best (or worst) items by `result.rank_key`; None without ranked items with images."""
    key = result.rank_key
    if key is None:
        return None
    ranked = [item for item in result.items if _rank_value(item, key) is not None and item.get("images")]
    ranked.sort(key=lambda item: _rank_value(item, key), reverse=best)  # stable: ties keep item order
    rows = []
    for item in ranked[:count]:
        images = [_image_path(result, value, Path(base)) for value in item["images"].values()]
        opened = [Image.open(image) for image in images[:2]]
        text = item.get("instruction") or item.get("rectified_instruction") or ""
        rows.append(
            {
                schema.SOURCE_IMAGE: opened[0],
                schema.TARGET_IMAGE: opened[-1],
                schema.INSTRUCTION: f"{key}={_rank_value(item, key):g} | {text}",
            }
        )
    if not rows:
        return None
    return example_grid(rows, path, columns=min(4, len(rows)))
