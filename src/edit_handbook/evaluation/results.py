"""The one result type every evaluation suite returns, and that `report` renders.

A suite scores one `system` (a captioner or an editor) on a set of items. `metrics` are the overall
aggregates, `groups` the same aggregates broken down (per error type, per failure mode, per edit type...),
and `items` one JSON-able record per item, so a report can rank items (`rank_key`) and show the best and
worst cases (`images`: name -> path of each item's images, saved by the suite under its output folder).
Several `SuiteResult`s of the same suite on the same items are a side-by-side comparison.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edit_handbook.evaluation.stats import Estimate


@dataclass
class SuiteResult:
    suite: str
    system: str
    metrics: dict[str, Estimate]
    groups: dict[str, dict[str, dict[str, Estimate]]] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    rank_key: str | None = None  # the item field that orders best -> worst (higher is better)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "system": self.system,
            "metrics": {name: value.to_dict() for name, value in self.metrics.items()},
            "groups": {
                by: {
                    group: {name: value.to_dict() for name, value in metrics.items()}
                    for group, metrics in table.items()
                }
                for by, table in self.groups.items()
            },
            "items": self.items,
            "meta": self.meta,
            "rank_key": self.rank_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteResult:
        def read(value: dict) -> Estimate:
            return Estimate(
                *(float("nan") if value[k] is None else value[k] for k in ("value", "low", "high")), value["n"]
            )

        return cls(
            suite=data["suite"],
            system=data["system"],
            metrics={name: read(value) for name, value in data["metrics"].items()},
            groups={
                by: {group: {name: read(value) for name, value in metrics.items()} for group, metrics in table.items()}
                for by, table in data.get("groups", {}).items()
            },
            items=list(data.get("items", [])),
            meta=dict(data.get("meta", {})),
            rank_key=data.get("rank_key"),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SuiteResult:
        return cls.from_dict(json.loads(Path(path).read_text()))
