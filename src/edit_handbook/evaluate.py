"""`edit-handbook evaluate <suite> --config recipe.yaml`: measure captioners and editors, write a report.

    edit-handbook evaluate instructions --config recipes/evaluation/qwen3-vl-8b/evaluate/config_hq_edit.yaml
    edit-handbook evaluate synthetic --config recipes/evaluation/smoke/evaluate/config_synthetic.yaml
    edit-handbook evaluate real-edit --config ... --editor_model <pipeline> --real_edit_dir <eval folder>
    edit-handbook evaluate synthetic-editing --editor <pipeline folder or Hub id> --output_dir outputs/editing
    edit-handbook evaluate report --results outputs/a outputs/b/results/x.json --output_dir outputs/both

Suites: `instructions` (a VLM judge scores each captioner's instructions and classifies their errors),
`synthetic` (the exact checker on synthetic pairs, plus a synthesis output's rectifications and negatives),
`real-edit` (an InstructPix2Pix editor under SuperEdit's Real-Edit protocol), `synthetic-editing` (an editor on
fresh synthetic pairs, scored exactly from the pixels). Every suite writes
`results/*.json`, `report.json`, `report.md` and `plots/` to `output_dir`; `report` renders saved results.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from edit_handbook.data.configs import DataArguments
from edit_handbook.evaluation.benchmarks import load_pairs
from edit_handbook.evaluation.captioners import HTTP, CaptionerSpec, parse_captioners
from edit_handbook.evaluation.configs import (
    EditingEvaluationArguments,
    EvaluationArguments,
    EvaluationJudgeArguments,
    SyntheticEditingArguments,
)
from edit_handbook.evaluation.plots import slug
from edit_handbook.evaluation.report import format_estimate, load_results, write_report
from edit_handbook.evaluation.results import SuiteResult
from edit_handbook.hub.run_info import collect_run_info, write_run_info
from edit_handbook.script_utils import ScriptParser, run_reporting_errors, setup_logging
from edit_handbook.synth.backends import make_backend
from edit_handbook.synth.configs import SynthesisBackendArguments


def make_parser() -> ScriptParser:
    return ScriptParser(
        (
            EvaluationArguments,
            DataArguments,
            EvaluationJudgeArguments,
            EditingEvaluationArguments,
            SyntheticEditingArguments,
        )
    )


def make_judge(args: EvaluationJudgeArguments):
    """The judge backend, wrapped in the on-disk reply cache when `judge_cache_dir` is set."""
    backend = make_backend(args.backend_arguments())
    if args.judge_cache_dir:
        from edit_handbook.evaluation.judge_cache import CachedBackend

        backend = CachedBackend(backend, args.judge_cache_dir)
    return backend


def captioner_backends(args: EvaluationArguments):
    """Builds the backend of one model captioner, when its turn comes (one model in memory at a time)."""

    def build(spec: CaptionerSpec):
        http = spec.kind == HTTP
        return make_backend(
            SynthesisBackendArguments(
                backend="http" if http else "local",
                synthesis_model=spec.target,
                synthesis_dtype=args.captioner_dtype,
                batch_size=args.captioner_batch_size,
                base_url=args.captioner_base_url,
                api_key_env=args.captioner_api_key_env,
            )
        )

    return build


def run_suite(
    args: EvaluationArguments,
    data_args: DataArguments,
    judge_args: EvaluationJudgeArguments,
    editing_args: EditingEvaluationArguments,
    synthetic_editing_args: SyntheticEditingArguments | None = None,
) -> list[SuiteResult]:
    if args.suite == "report":
        if not args.results:
            raise ValueError("the report suite needs --results <SuiteResult JSON files or report folders>")
        return load_results(args.results)
    if args.suite == "real-edit":
        from edit_handbook.evaluation.editing import evaluate_editor

        if not (editing_args.editor_model and editing_args.real_edit_dir):
            raise ValueError("the real-edit suite needs --editor_model and --real_edit_dir")
        judge = make_backend(judge_args.backend_arguments())  # evaluate_editor caches its replies itself
        return [
            evaluate_editor(
                editing_args.editor_model, editing_args.real_edit_dir, judge, args.output_dir, settings=editing_args,
                judge_cache_dir=judge_args.judge_cache_dir,
            )
        ]  # fmt: skip
    if args.suite == "synthetic-editing":
        from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing

        if not editing_args.editor_model:
            raise ValueError("the synthetic-editing suite needs --editor (a pipeline folder, Hub id or baseline:copy)")
        settings = synthetic_editing_args or SyntheticEditingArguments()
        return [
            evaluate_synthetic_editing(
                editing_args.editor_model, args.output_dir, **settings.suite_kwargs(), **args.stats()
            )
        ]
    captioners = parse_captioners(args.captioners)
    if args.suite == "instructions":
        from edit_handbook.evaluation.instructions import evaluate_instructions

        if not captioners:
            raise ValueError("the instructions suite needs at least one captioner (--captioners ...)")
        pairs = load_pairs(data_args.load_kwargs(), args.max_pairs)
        return evaluate_instructions(
            pairs, captioners, captioner_backends(args), make_judge(judge_args), args.output_dir,
            judge_max_new_tokens=judge_args.judge_max_new_tokens, **args.stats(),
        )  # fmt: skip
    from edit_handbook.evaluation.synthetic import evaluate_synthesis_output, evaluate_synthetic, load_synthesis_output

    results = []
    if captioners:
        pairs = load_pairs(data_args.load_kwargs(), args.max_pairs)
        results += evaluate_synthetic(pairs, captioners, captioner_backends(args), args.output_dir, **args.stats())
    if args.synthesis_output:
        from edit_handbook.models import load_clip_tokenizer

        output = load_synthesis_output(args.synthesis_output)
        name = Path(args.synthesis_output).name
        results += evaluate_synthesis_output(output, load_clip_tokenizer(), args.output_dir, name, **args.stats())
    if not results:
        raise ValueError("the synthetic suite needs captioners, a synthesis_output, or both")
    return results


def main(argv: list[str] | None = None) -> int:
    # 1. Parse the recipe and the flags (`evaluate synthetic ...` = `evaluate --suite synthetic ...`).
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--suite", argv[0], *argv[1:]]
    args, data_args, judge_args, editing_args, synthetic_editing_args = make_parser().parse_args_and_config(argv)

    # 2. Logging.
    setup_logging(logging.WARNING)

    # 3-6. Data, models (captioners, judge, editor; one in memory at a time) and the suite's measurements.
    results = run_suite(args, data_args, judge_args, editing_args, synthetic_editing_args)

    # 7. Save: per-suite results, run_info and the report (report.json, report.md, plots).
    output_dir = Path(args.output_dir)
    if args.suite != "report":
        for result in results:
            result.save(output_dir / "results" / f"{slug(result.suite)}-{slug(result.system)}.json")
    configs = {"evaluation": args, "data": data_args, "judge": judge_args, "editing": editing_args}
    configs["synthetic_editing"] = synthetic_editing_args
    write_run_info(output_dir, collect_run_info(configs))
    report = write_report(results, output_dir, title=args.report_title, grid_items=args.grid_items, **args.stats())
    for result in results:
        shown = ", ".join(f"{name} {format_estimate(name, value)}" for name, value in list(result.metrics.items())[:3])
        print(f"{result.suite} / {result.system}: {shown}")
    print(f"report: {report} (machine-readable: {report.parent / 'report.json'}, plots: {report.parent / 'plots'})")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
