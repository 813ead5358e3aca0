"""Automatic edit metrics: pure arithmetic (`functions`), model calls (`encoders`), all at once (`compute`),
and one local `evaluate` module per metric family in a folder of its own (`<name>/<name>.py`).

`evaluate.load("<name>")` fetches from the Hub; load these by path: `evaluate.load(metric_path("clip_i"))`.
"""

from __future__ import annotations

from pathlib import Path

from .compute import METRIC_NAMES, MetricModels, compute_edit_metrics


# Module folder -> the metrics it reports.
METRIC_MODULES = {
    "clip_i": ("clip_i",),
    "clip_t": ("clip_t",),
    "clip_directional": ("clip_directional",),
    "dino_similarity": ("dino_similarity",),
    "pixel_distance": ("l1", "l2"),
}


def metric_path(module: str) -> str:
    """The folder `evaluate.load` takes for one of this package's metric modules."""
    if module not in METRIC_MODULES:
        raise ValueError(f"unknown metric module {module!r}; the modules are {', '.join(METRIC_MODULES)}")
    return str(Path(__file__).resolve().parent / module)


__all__ = ["METRIC_MODULES", "METRIC_NAMES", "MetricModels", "compute_edit_metrics", "metric_path"]
