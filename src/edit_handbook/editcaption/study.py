"""Scoring and aggregation of the EditCaption study (docs/editcaption_study.md): one captioner, then many.

- `score_captioner`: greedy instructions on the test pairs, graded (correct / minor / major / critical) per
  item, and on held-out preference pairs of the SFT model's own mistakes the policy's log-probs of the
  reference and of the mistake (preference accuracy; reward accuracy against the SFT reference).
- `summarise`: critical-error and correct rates per arm with 95% bootstrap intervals over seeds and items,
  paired differences against SFT and against plain DPO, per seed and per failure mode.
- `write_report`: report.json, report.md and a bar plot.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edit_handbook.data import schema
from edit_handbook.data.synthetic.grading import grade_instruction
from edit_handbook.evaluation.stats import Estimate, seed_item_estimate


SFT = "sft"
PLAIN = "plain"
METRICS = ("critical", "correct")


def sequence_log_probs(model, processor, examples, *, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Summed log-probs of the chosen and rejected answers of preference examples under `model`."""
    from edit_handbook.editcaption.reference_pass import run_reference_pass

    with tempfile.TemporaryDirectory() as folder:
        rows = run_reference_pass(
            model, processor, examples, folder, fingerprint="study", batch_size=batch_size, overwrite=True
        )
        return np.asarray(list(rows["ref_chosen_logps"])), np.asarray(list(rows["ref_rejected_logps"]))


def benchmark_rates(model, processor, pairs, *, batch_size: int = 64) -> dict:
    """Correct and critical-error rates of greedy instructions on synthetic `pairs` (the study's verdicts)."""
    from edit_handbook.editcaption.inference import describe_edit

    outputs = describe_edit(
        model, processor, pairs[schema.SOURCE_IMAGE], pairs[schema.TARGET_IMAGE], batch_size=batch_size
    )
    verdicts = [grade_instruction(text, spec).verdict for text, spec in zip(outputs, pairs["edit_spec"])]
    return {
        "correct": verdicts.count("correct") / len(verdicts),
        "critical": verdicts.count("critical") / len(verdicts),
        "n": len(verdicts),
    }


def score_captioner(model, processor, test_pairs, held_out_examples, *, batch_size: int = 64) -> dict:
    """Per-item grades on `test_pairs` and log-probs on `held_out_examples` (preference examples)."""
    from edit_handbook.editcaption.inference import describe_edit

    outputs = describe_edit(
        model, processor, test_pairs[schema.SOURCE_IMAGE], test_pairs[schema.TARGET_IMAGE], batch_size=batch_size
    )
    grades = [grade_instruction(text, spec) for text, spec in zip(outputs, test_pairs["edit_spec"])]
    chosen, rejected = sequence_log_probs(model, processor, held_out_examples, batch_size=batch_size)
    return {
        "outputs": outputs,
        "verdict": [grade.verdict for grade in grades],
        "error_type": [grade.error_type for grade in grades],
        "chosen_logps": chosen.tolist(),
        "rejected_logps": rejected.tolist(),
    }


def item_table(scores: Sequence[Mapping], metric: str) -> np.ndarray:
    """(seeds x items) 0/1 table of `metric` (critical | correct) from per-seed score dicts."""
    return np.asarray([[float(v == metric) for v in score["verdict"]] for score in scores])


def preference_table(scores: Sequence[Mapping]) -> np.ndarray:
    """(seeds x held-out pairs) 0/1: the policy gives the reference a higher log-prob than the mistake."""
    return np.asarray([np.asarray(s["chosen_logps"]) > np.asarray(s["rejected_logps"]) for s in scores], float)


def reward_table(scores: Sequence[Mapping], sft: Mapping) -> np.ndarray:
    """(seeds x held-out pairs) 0/1: DPO's implicit reward prefers the reference (delta > 0 against SFT)."""
    ref_c, ref_r = np.asarray(sft["chosen_logps"]), np.asarray(sft["rejected_logps"])
    return np.asarray(
        [(np.asarray(s["chosen_logps"]) - ref_c) - (np.asarray(s["rejected_logps"]) - ref_r) > 0 for s in scores],
        float,
    )


def _estimates(table: np.ndarray, columns: np.ndarray | None, **stats) -> dict:
    chosen = table if columns is None else table[:, columns]
    pooled = seed_item_estimate(chosen, **stats)
    per_seed = [seed_item_estimate(row[None, :], **stats) for row in chosen]
    return {"pooled": pooled, "per_seed": per_seed}


def summarise(
    arms: Mapping[str, Sequence[Mapping]],
    sft: Mapping,
    failure_modes: Sequence[str],
    *,
    num_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Every arm's metrics (pooled and per seed, overall and per failure mode) and paired differences.

    `arms` maps an arm name to one score dict per seed (same seeds in the same order for every arm); `sft` is
    the shared SFT checkpoint's score, repeated against every seed for the paired differences.
    """
    stats = {"num_resamples": num_resamples, "seed": seed}
    modes = np.asarray(failure_modes)
    groups = {"all": None, **{mode: np.flatnonzero(modes == mode) for mode in sorted(set(failure_modes))}}
    out: dict = {}
    for name, scores in {SFT: [sft], **arms}.items():
        entry: dict = {"seeds": len(scores)}
        for metric in METRICS:
            table = item_table(scores, metric)
            entry[metric] = {group: _estimates(table, columns, **stats) for group, columns in groups.items()}
            for baseline in (SFT, PLAIN):
                if name in (SFT, baseline) or (baseline != SFT and baseline not in arms):
                    continue
                base_scores = [sft] * len(scores) if baseline == SFT else arms[baseline]
                difference = table - item_table(base_scores, metric)
                entry[f"{metric}_vs_{baseline}"] = _estimates(difference, None, **stats)
        entry["preference_accuracy"] = _estimates(preference_table(scores), None, **stats)
        if name != SFT:
            entry["reward_accuracy"] = _estimates(reward_table(scores, sft), None, **stats)
        out[name] = entry
    return out


def hae_spread(gap: np.ndarray, margins: np.ndarray, *, temperature: float, uniform_mix: float, eps: float) -> dict:
    """How much room the HAE halves have to differ from plain DPO on a preference set.

    `gap` is the reference's length-normalised r_i = lp(y_l) - lp(y_w) (> 0: it prefers the mistake), `margins`
    the full-HAE m_i. The margin only matters against beta * delta, and the sampler only differs from uniform
    as far as its first-epoch probabilities do (their max / min ratio).
    """
    from .hae import initial_scores, sampling_probabilities

    gap, margins = np.asarray(gap, np.float64), np.asarray(margins, np.float64)
    first = sampling_probabilities(initial_scores(margins), temperature=temperature, uniform_mix=uniform_mix, eps=eps)
    return {
        "pairs": int(gap.size),
        "reference_prefers_mistake": float(np.mean(gap > 0)),
        "median_gap_nats_per_token": float(np.median(gap)),
        "margin": {"min": float(margins.min()), "mean": float(margins.mean()), "max": float(margins.max())},
        "sampler_max_over_min": float(first.max() / first.min()),
    }


def _jsonable(value):
    if isinstance(value, Estimate):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def markdown_table(summary: Mapping) -> str:
    """The headline table: rates pooled over seeds with intervals, paired differences, preference accuracy."""
    header = (
        "| arm | critical-error rate | correct rate | critical vs SFT | critical vs plain DPO | correct vs SFT "
        "| held-out preference accuracy (own mistakes) |\n|---|---|---|---|---|---|---|"
    )
    lines = [header]

    def cell(entry, key, group="all"):
        value = entry.get(key)
        if value is None:
            return "-"
        return (value[group]["pooled"] if group else value["pooled"]).format(percent=True)

    for name, entry in summary.items():
        lines.append(
            f"| {name} | {cell(entry, 'critical')} | {cell(entry, 'correct')} | {cell(entry, 'critical_vs_sft', None)} "
            f"| {cell(entry, 'critical_vs_plain', None)} | {cell(entry, 'correct_vs_sft', None)} "
            f"| {cell(entry, 'preference_accuracy', None)} |"
        )
    return "\n".join(lines)


def failure_mode_table(summary: Mapping, metric: str) -> str:
    modes = [group for group in next(iter(summary.values()))[metric] if group != "all"]
    lines = [f"| arm | {' | '.join(modes)} |", "|---|" + "---|" * len(modes)]
    for name, entry in summary.items():
        cells = [entry[metric][mode]["pooled"].format(percent=True) for mode in modes]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def per_seed_table(summary: Mapping) -> str:
    lines = ["| arm | seed | critical-error rate | correct rate |", "|---|---|---|---|"]
    for name, entry in summary.items():
        for k, (critical, correct) in enumerate(
            zip(entry["critical"]["all"]["per_seed"], entry["correct"]["all"]["per_seed"])
        ):
            lines.append(f"| {name} | {k} | {critical.format(percent=True)} | {correct.format(percent=True)} |")
    return "\n".join(lines)


def bar_plot(summary: Mapping, path: Path) -> Path:
    """Critical-error and correct rates per arm, pooled, with their intervals."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.5))
    names = list(summary)
    for k, metric in enumerate(METRICS):
        axis = figure.add_subplot(1, 2, k + 1)
        estimates = [summary[name][metric]["all"]["pooled"] for name in names]
        values = np.asarray([e.value for e in estimates])
        errors = np.asarray([[e.value - e.low for e in estimates], [e.high - e.value for e in estimates]])
        axis.bar(range(len(names)), values, yerr=errors, capsize=3, color="tab:red" if k == 0 else "tab:green")
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, 1)
        axis.set_title(f"{metric} rate (95% CI, seeds x items)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def _num(value) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def hae_spread_line(spread: Mapping | None) -> str:
    """The report's one-sentence reading of `hae_spread` (None: the study had no stored reference to measure)."""
    if not spread:
        return "Not measured (no stored reference for the own-mistake pairs)."
    m = spread["margin"]
    return (
        f"{spread['pairs']} pairs: the reference prefers the model's own mistake in "
        f"{spread['reference_prefers_mistake']:.0%} (median gap {spread['median_gap_nats_per_token']:+.2f} nats per "
        f"token); full-HAE margins m in [{m['min']:.2f}, {m['max']:.2f}], mean {m['mean']:.2f} (compare beta * delta "
        f"above); first-epoch sampler probabilities differ by {spread['sampler_max_over_min']:.2f}x at most."
    )


def write_report(folder: Path, summary: Mapping, context: Mapping) -> dict:
    """report.json (context: commit, versions, threads, settings, data) + report.md + plot; returns the JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    plot = bar_plot(summary, folder / "rates.png")
    report = {**_jsonable(dict(context)), "results": _jsonable(dict(summary)), "plots": [plot.name]}
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# EditCaption study: SFT vs plain DPO vs HAE-DPO",
        "",
        f"Commit `{context.get('commit')}`, {context.get('date')}, {context.get('machine')}, "
        f"torch threads {context.get('threads')}. {context.get('design', '')}",
        "",
        markdown_table(summary),
        "",
        "Rates pooled over seeds with 95% bootstrap intervals (seeds and items resampled); differences are paired "
        "on the same test items (percentage points). Preference accuracy: share of held-out pairs of the SFT "
        "model's own mistakes where the policy gives the reference instruction the higher log-probability.",
        "",
        "## Critical-error rate per failure mode",
        "",
        failure_mode_table(summary, "critical"),
        "",
        "## Correct rate per failure mode",
        "",
        failure_mode_table(summary, "correct"),
        "",
        "## Per seed",
        "",
        per_seed_table(summary),
        "",
        "## Example outputs (first test pairs, first seed)",
        "",
        "| arm | reference | output | verdict |",
        "|---|---|---|---|",
        *[
            f"| {name} | {row['reference']} | {row['output'][:120]} | {row['verdict']} |"
            for name, rows in context.get("examples", {}).items()
            for row in rows
        ],
        "",
        "## Training diagnostics (last logged step: mean HAE margin m vs mean beta * delta on training pairs)",
        "",
        "| arm | seed | m | beta * delta | chosen reward | reward accuracy |",
        "|---|---|---|---|---|---|",
        *[
            f"| {arm} | {seed} | {_num(row.get('hae/margin'))} | {_num(row.get('rewards/margins'))} "
            f"| {_num(row.get('rewards/chosen'))} | {_num(row.get('rewards/accuracies'))} |"
            for arm, seeds in context.get("training", {}).items()
            for seed, row in seeds.items()
        ],
        "",
        "## Room for the HAE halves (training pairs, before training)",
        "",
        hae_spread_line(context.get("hae_spread")),
        "",
        "## Data",
        "",
        "```json",
        json.dumps(_jsonable(context.get("data", {})), indent=2),
        "```",
        "",
        f"![rates]({plot.name})",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines))
    return report
