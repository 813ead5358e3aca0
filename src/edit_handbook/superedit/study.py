"""SuperEdit's two claims, summarised from per-item pixel verdicts: the tables and report of `replicate superedit`.

Every arm is one editor per seed, each scored on the same fresh pairs (`evaluation.synthetic_editing`), so an
arm's verdicts form a (seeds x items) 0/1 table. Rates are pooled over seeds with intervals that resample seeds
and items together (`stats.seed_item_estimate`); differences against the reference arm are paired on the same
items and seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edit_handbook.evaluation.stats import Estimate, seed_item_estimate


REFERENCE = "reference"
# Per-item verdicts of `pixel_edits.score_edit` and the wrong-instruction check: (item key, report name).
METRICS = (
    ("correct", "edit accuracy"),
    ("preserved", "preservation"),
    ("changed", "change"),
    ("wrong_followed", "wrong instruction's colour appears"),
)


def verdict_table(results: Sequence[Sequence[Mapping]], key: str, edit_type: str | None = None) -> np.ndarray:
    """(seeds x items) 0/1 table of `key` over items that have it (the wrong-instruction check: recolours only)."""
    rows = []
    for items in results:
        rows.append([float(item[key]) for item in items if key in item and edit_type in (None, item["edit_type"])])
    if len({len(row) for row in rows}) > 1:
        raise ValueError(f"seeds scored different items for {key!r}: every seed must edit the same pairs")
    return np.asarray(rows)


def summarise(arms: Mapping[str, Sequence[Sequence[Mapping]]], *, num_resamples: int = 1000, seed: int = 0) -> dict:
    """Per arm and metric: pooled estimate, per-seed estimates, per edit type, and the paired difference against
    the reference arm (when there is one). `arms` maps an arm to one list of scored items per seed."""
    stats = {"num_resamples": num_resamples, "seed": seed}
    summary: dict = {}
    for name, results in arms.items():
        entry: dict = {"seeds": len(results), "items": len(results[0])}
        kinds = list(dict.fromkeys(item["edit_type"] for item in results[0]))
        for key, _ in METRICS:
            table = verdict_table(results, key)
            if table.size == 0:
                continue
            entry[key] = {
                "pooled": seed_item_estimate(table, **stats),
                "per_seed": [seed_item_estimate(row[None, :], **stats) for row in table],
                "edit_type": {
                    kind: seed_item_estimate(verdict_table(results, key, kind), **stats)
                    for kind in kinds
                    if verdict_table(results, key, kind).size
                },
            }
            if name != REFERENCE and REFERENCE in arms:
                difference = table - verdict_table(arms[REFERENCE], key)
                entry[f"{key}_vs_{REFERENCE}"] = seed_item_estimate(difference, **stats)
        summary[name] = entry
    return summary


def jsonable(value):
    if isinstance(value, Estimate):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value


def _cell(estimate: Estimate | None, signed: bool = False) -> str:
    if estimate is None:
        return "-"
    if signed:
        return f"{100 * estimate.value:+.1f} [{100 * estimate.low:+.1f}, {100 * estimate.high:+.1f}]"
    return estimate.format(percent=True)


def headline_table(summary: Mapping) -> str:
    header = "| arm | " + " | ".join(label for _, label in METRICS) + f" | accuracy vs {REFERENCE} (points) |"
    lines = [header, "|---|" + "---|" * (len(METRICS) + 1)]
    for name, entry in summary.items():
        cells = [_cell(entry[key]["pooled"]) if key in entry else "-" for key, _ in METRICS]
        lines.append(f"| {name} | {' | '.join(cells)} | {_cell(entry.get(f'correct_vs_{REFERENCE}'), True)} |")
    return "\n".join(lines)


def edit_type_table(summary: Mapping, key: str = "correct") -> str:
    kinds = list(next(iter(summary.values()))[key]["edit_type"])
    lines = [f"| arm | {' | '.join(kinds)} |", "|---|" + "---|" * len(kinds)]
    for name, entry in summary.items():
        lines.append(f"| {name} | {' | '.join(_cell(entry[key]['edit_type'][k]) for k in kinds)} |")
    return "\n".join(lines)


def per_seed_table(summary: Mapping, seeds: Sequence[int]) -> str:
    lines = ["| arm | seed | " + " | ".join(label for _, label in METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for name, entry in summary.items():
        for k, seed in enumerate(seeds):
            cells = [_cell(entry[key]["per_seed"][k]) if key in entry else "-" for key, _ in METRICS]
            lines.append(f"| {name} | {seed} | {' | '.join(cells)} |")
    return "\n".join(lines)


def bar_plot(summary: Mapping, path: Path) -> Path:
    """Each metric per arm, pooled over seeds, with its interval."""
    from matplotlib.figure import Figure

    keys = [(key, label) for key, label in METRICS if key in next(iter(summary.values()))]
    figure = Figure(figsize=(3.2 * len(keys), 3.5))
    names = list(summary)
    for k, (key, label) in enumerate(keys):
        axis = figure.add_subplot(1, len(keys), k + 1)
        estimates = [summary[name][key]["pooled"] for name in names]
        values = np.asarray([e.value for e in estimates])
        errors = np.asarray([[e.value - e.low for e in estimates], [e.high - e.value for e in estimates]])
        axis.bar(range(len(names)), values, yerr=errors, capsize=3)
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, 1)
        axis.set_title(f"{label}\n(95% CI, seeds x items)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def write_report(folder: Path, summary: Mapping, context: Mapping) -> dict:
    """report.json (context: commit, versions, threads, settings, design) + report.md + plot; returns the JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    plot = bar_plot(summary, folder / "rates.png")
    report = {**jsonable(dict(context)), "results": jsonable(dict(summary)), "plots": [plot.name]}
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# SuperEdit study: instruction quality and the triplet loss, on the pixel benchmark",
        "",
        f"Commit `{context.get('commit')}`, {context.get('date')}, {context.get('machine')}, "
        f"torch threads {context.get('threads')}, {context.get('seconds')} s. {context.get('design', '')}",
        "",
        headline_table(summary),
        "",
        "Rates pooled over seeds with 95% bootstrap intervals (seeds and items resampled); the difference is paired "
        "on the same test pairs and seeds. Edit accuracy: the named change read from the pixels and the rest "
        "preserved. Wrong instruction: each test recolour is also edited under an instruction naming the same "
        "object and another colour; the share where that wrong colour is what appears (instruction following).",
        "",
        "## Edit accuracy per edit type",
        "",
        edit_type_table(summary),
        "",
        "## Per seed",
        "",
        per_seed_table(summary, context.get("settings", {}).get("seeds", [])),
        "",
        f"![rates]({plot.name})",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines))
    return report
