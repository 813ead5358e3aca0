"""Collect the JSON of every benchmark `run_gpu.sh` ran into one results.json and a Markdown table.

    python benchmarks/summarize_runs.py OUT_DIR --elapsed 312 --mode gpu superedit=ok "sft=timed out after 95s"

Each benchmark's JSON carries `ratios` (name -> value) and `goals` (name -> minimum); a benchmark that
failed or timed out keeps whatever partial results it wrote and its status says why.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path


NAMES = ("superedit", "sft", "dpo", "synthesis")


def ratios_of(result: dict) -> dict[str, float]:
    """`ratios`, or the single `ratio` older benchmark versions wrote."""
    if isinstance(result.get("ratios"), dict):
        return {name: float(value) for name, value in result["ratios"].items() if isinstance(value, int | float)}
    return {"ratio": float(result["ratio"])} if isinstance(result.get("ratio"), int | float) else {}


def summarize(folder: Path, statuses: dict[str, str], *, elapsed: float | None, mode: str) -> dict:
    summary = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "host": platform.node(),
        "elapsed_s": elapsed,
        "benchmarks": {},
    }
    for name in NAMES:
        path = folder / f"{name}.json"
        result = json.loads(path.read_text()) if path.exists() else {}
        summary["benchmarks"][name] = {
            "status": statuses.get(name, "not run"),
            "device": result.get("device"),
            "ratios": ratios_of(result),
            "goals": result.get("goals", {}),
            "result": result,
        }
    return summary


def markdown(summary: dict) -> str:
    lines = [
        f"Benchmarks run {summary['date']} ({summary['mode']}, host {summary['host']}, "
        f"{summary['elapsed_s']} s in all)",
        "",
        "| benchmark | status | device | ratio | value | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in summary["benchmarks"].items():
        ratios = entry["ratios"] or {"-": None}
        for ratio, value in ratios.items():
            goal = entry["goals"].get(ratio)
            met = "-" if goal is None or value is None else ("yes" if value >= goal else "no")
            shown = "-" if value is None else f"{value:.2f}"
            lines.append(
                f"| {name} | {entry['status']} | {entry['device'] or '-'} | {ratio} | {shown} | "
                f"{'-' if goal is None else f'>= {goal}'} | {met} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("statuses", nargs="*", help="name=status for each benchmark run")
    parser.add_argument("--elapsed", type=float, default=None)
    parser.add_argument("--mode", default="gpu")
    args = parser.parse_intermixed_args(argv)
    statuses = dict(item.split("=", 1) for item in args.statuses)
    summary = summarize(args.folder, statuses, elapsed=args.elapsed, mode=args.mode)
    (args.folder / "results.json").write_text(json.dumps(summary, indent=2))
    table = markdown(summary)
    (args.folder / "results.md").write_text(table)
    print(table)
    return 0 if all(status == "ok" for status in statuses.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
