"""Reports from `SuiteResult`s: `report.json` (machine), `report.md` (people), PNG plots, and the card section.

Results of the same suite are systems side by side on the same items: the overall table puts them in columns,
and each system after the first is compared with the first by paired differences over the items both scored
(`stats.paired_difference` on the item fields a suite lists in `meta["item_metrics"]`, else its `rank_key`).
Every number is shown with its bootstrap interval and item count; a suite's `meta["note"]` (e.g. "Real-Edit
protocol, not the release's prompts") is printed under its heading, in the report and in the model card.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edit_handbook.evaluation import plots
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.evaluation.stats import DEFAULT_CONFIDENCE, Estimate, paired_difference


REPORT_JSON, REPORT_MD, PLOTS_FOLDER = "report.json", "report.md", "plots"
RATE_SUFFIXES = ("_rate", "accuracy", "recall", "success", "validity", "_yes", "_unusable")  # "_yes": a yes-rate
SUITE_TITLES = {
    "instruction_quality": "Instruction quality (VLM judge)",
    "synthetic_checker": "Instructions on synthetic pairs (exact checker)",
    "rectification": "Rectification (SuperEdit, <= 77 CLIP tokens, four aspects)",
    "negatives": "Negative instructions (exact checker)",
    "real_edit": "Real-Edit (editing quality)",
    "synthetic_editing": "Editing on synthetic pairs (pixel-exact)",
}


def is_rate(metric: str) -> bool:
    """Rates print as percentages; scores, means and counts as numbers."""
    return "score" not in metric and metric.endswith(RATE_SUFFIXES)


def format_estimate(metric: str, value: Estimate) -> str:
    return f"{value.format(percent=is_rate(metric))} (n={value.n})" if value.n else "n/a"


def by_suite(results: Sequence[SuiteResult]) -> dict[str, list[SuiteResult]]:
    suites: dict[str, list[SuiteResult]] = {}
    for result in results:
        suites.setdefault(result.suite, []).append(result)
    for suite, members in suites.items():
        systems = [result.system for result in members]
        if len(set(systems)) != len(systems):
            raise ValueError(f"suite {suite!r} has the system names {systems} more than once; name systems apart")
    return suites


def _item_value(item: dict, key: str) -> float | None:
    value = item.get(key)
    return None if value is None or isinstance(value, str) else float(value)


def paired_comparisons(results: Sequence[SuiteResult], **stats: Any) -> list[dict[str, Any]]:
    """Each system against the first of its suite, per item metric, over the items (by id) both have."""
    comparisons = []
    for suite, members in by_suite(results).items():
        baseline = members[0]
        keys = baseline.meta.get("item_metrics") or ([baseline.rank_key] if baseline.rank_key else [])
        base_items = {item["id"]: item for item in baseline.items if "id" in item}
        for other in members[1:]:
            other_items = {item["id"]: item for item in other.items if "id" in item}
            shared = [item_id for item_id in base_items if item_id in other_items]
            for key in keys:
                difference = paired_difference(
                    [_item_value(other_items[i], key) for i in shared],
                    [_item_value(base_items[i], key) for i in shared],
                    **stats,
                )
                comparisons.append(
                    {"suite": suite, "system": other.system, "baseline": baseline.system, "metric": key,
                     "difference": difference.to_dict(), "shared_items": len(shared)}
                )  # fmt: skip
    return comparisons


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _read_estimate(value: dict) -> Estimate:
    return Estimate(*(math.nan if value[k] is None else value[k] for k in ("value", "low", "high")), value["n"])


def _overall_section(members: Sequence[SuiteResult], comparisons: Sequence[dict], heading: str) -> list[str]:
    suite = members[0].suite
    parts = [f"{heading} {SUITE_TITLES.get(suite, suite)}"]
    notes = list(dict.fromkeys(result.meta["note"] for result in members if result.meta.get("note")))
    parts += [f"> {note}" for note in notes]
    metrics = list(dict.fromkeys(name for result in members for name in result.metrics))
    rows = [
        [name] + [format_estimate(name, result.metrics[name]) if name in result.metrics else "" for result in members]
        for name in metrics
    ]
    parts.append(_table(["metric", *(f"`{result.system}`" for result in members)], rows))
    unusable = [
        f"`{result.system}`: {result.meta.get('captioner_failures', 0)} without an instruction, "
        f"{result.meta['judge_failures']} unusable judge answers, of {result.meta.get('items', len(result.items))}"
        for result in members
        if "judge_failures" in result.meta
    ]
    if unusable:
        parts.append("Excluded from scores and rates (counted, never zero): " + "; ".join(unusable) + ".")
    mine = [c for c in comparisons if c["suite"] == suite]
    if mine:
        rows = [
            [f"`{c['system']}` - `{c['baseline']}`", c["metric"],
             format_estimate(c["metric"], _read_estimate(c["difference"])), str(c["shared_items"])]
            for c in mine
        ]  # fmt: skip
        parts.append("Paired differences over the same items (bootstrap interval; > 0: better than the baseline):")
        parts.append(_table(["systems", "item metric", "difference", "items"], rows))
    return parts


def _group_sections(members: Sequence[SuiteResult]) -> list[str]:
    parts = []
    for by in dict.fromkeys(by for result in members for by in result.groups):
        metrics = list(
            dict.fromkeys(name for r in members for values in r.groups.get(by, {}).values() for name in values)
        )
        rows = []
        for group in sorted({group for r in members for group in r.groups.get(by, {})}):
            for result in members:
                values = result.groups.get(by, {}).get(group)
                if values is not None:
                    cells = [format_estimate(m, values[m]) if m in values else "" for m in metrics]
                    rows.append([group, f"`{result.system}`", *cells])
        parts += [f"### By {by.replace('_', ' ')}", _table([by, "system", *metrics], rows)]
    return parts


def render_markdown(
    results: Sequence[SuiteResult], comparisons: Sequence[dict], figures: dict[str, list[str]], title: str
) -> str:
    parts = [f"# {title}"]
    for suite, members in by_suite(results).items():
        parts += _overall_section(members, comparisons, "##")
        parts += _group_sections(members)
        parts += [f"![{Path(figure).stem}]({figure})" for figure in figures.get(suite, [])]
    return "\n\n".join(parts) + "\n"


def write_report(
    results: Sequence[SuiteResult],
    folder: str | Path,
    *,
    title: str = "Evaluation report",
    grid_items: int = 8,
    **stats: Any,
) -> Path:
    """Write `report.json`, `report.md` and `plots/` to `folder`; returns the Markdown file's path."""
    if not results:
        raise ValueError("no results to report")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    comparisons = paired_comparisons(results, **stats)
    figures: dict[str, list[str]] = {}
    for suite, members in by_suite(results).items():
        written = [
            plots.group_bars(members, by, folder / PLOTS_FOLDER / f"{plots.slug(suite)}-{plots.slug(by)}.png")
            for by in dict.fromkeys(by for result in members for by in result.groups)
        ]
        for result in members:
            for best in (True, False):
                name = f"{plots.slug(suite)}-{plots.slug(result.system)}-{'best' if best else 'worst'}.png"
                written.append(plots.item_grid(result, folder / PLOTS_FOLDER / name, best=best, count=grid_items))
        figures[suite] = [str(path.relative_to(folder)) for path in written if path is not None]
    report = {
        "title": title,
        "results": [result.to_dict() for result in results],
        "comparisons": comparisons,
        "figures": figures,
        "confidence": stats.get("confidence", DEFAULT_CONFIDENCE),
    }
    (folder / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    path = folder / REPORT_MD
    path.write_text(render_markdown(results, comparisons, figures, title))
    return path


def load_results(paths: Sequence[str | Path]) -> list[SuiteResult]:
    """Results from saved `SuiteResult` JSON files, `report.json` files, or folders holding a `report.json`."""
    results = []
    for path in map(Path, paths):
        path = path / REPORT_JSON if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"no results at {path}: pass SuiteResult JSON files or report folders")
        data = json.loads(path.read_text())
        results += [SuiteResult.from_dict(entry) for entry in data.get("results", [data])]
    return results


def card_section(report_dir: str | Path) -> str:
    """The model card's "Evaluation" section from a saved report folder: overall tables, notes, comparisons."""
    path = Path(report_dir) / REPORT_JSON
    if not path.is_file():
        raise FileNotFoundError(f"no {REPORT_JSON} in {report_dir}: run `edit-handbook evaluate` first")
    report = json.loads(path.read_text())
    results = [SuiteResult.from_dict(entry) for entry in report["results"]]
    parts = []
    for members in by_suite(results).values():
        parts += _overall_section(members, report.get("comparisons", []), "###")
    confidence = report.get("confidence", DEFAULT_CONFIDENCE)
    parts.append(
        f"Values are means over items with {confidence:.0%} bootstrap intervals [low, high] and the item count n. "
        "Per-group tables, plots and the best and worst items are in the full report (`report.md`) written by "
        "`edit-handbook evaluate`."
    )
    return "\n\n".join(parts) + "\n"
