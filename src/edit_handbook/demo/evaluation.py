"""Demo stage: evaluate the captioner that sees (and its HAE-DPO version) on fresh synthetic pairs (exact checker)
and the editor on two Real-Edit-format images (the captioner as judge) and, from the pixels, on fresh synthetic
edits (`synthetic-editing`), then write one report and print where it is. Some of the captioner's training pairs
get their own small report beside the fresh ones: training against held-out accuracy."""

from __future__ import annotations

import json
from pathlib import Path

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.captioners import parse_captioners
from edit_handbook.evaluation.configs import EditingEvaluationArguments
from edit_handbook.evaluation.report import write_report
from edit_handbook.evaluation.synthetic import evaluate_synthetic
from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing
from edit_handbook.fixtures import see_captioner_checkpoint, see_captioner_pairs
from edit_handbook.synth.backends import LocalBackend

from .context import DemoContext


DEMO_PAIRS = 16
REAL_EDIT_TYPES = ("move", "recolour")  # the two synthetic photos' local edits


def write_real_edit_folder(folder: Path, seed: int) -> Path:
    """Two synthetic photos and an `eval_instruct.json` in the SuperEdit release's format (two edit types each)."""
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    pairs = generate_dataset(2, seed=seed, image_size=64, edit_types=REAL_EDIT_TYPES)
    table = {}
    for index, row in enumerate(pairs, 1):
        row["source_image"].save(folder / "imgs" / f"{index}.png")
        table[f"{index}.png"] = [
            f"1. Local: {row['instruction']}",
            "2. Style: Make it look like a watercolour painting.",
        ]
    (folder / "eval_instruct.json").write_text(json.dumps(table, indent=1))
    return folder


def run(context: DemoContext) -> None:
    folder = context.output_dir / "evaluation"
    captioner = context.artifacts.get("captioner") or see_captioner_checkpoint()
    specs = [f"sft={captioner}"]
    if context.artifacts.get("dpo_captioner"):
        specs.append(f"dpo={context.artifacts['dpo_captioner']}")
    pairs = see_captioner_pairs(DEMO_PAIRS, context.seed + 2000)
    training = see_captioner_pairs(DEMO_PAIRS)  # its own first training pairs

    def backend(spec):
        return LocalBackend.from_pretrained(spec.target, batch_size=16)

    seen = evaluate_synthetic(training, parse_captioners(specs), backend, folder / "training_pairs")
    write_report(seen, folder / "training_pairs", title="edit-handbook demo: the captioners' training pairs")
    results = evaluate_synthetic(pairs, parse_captioners(specs), backend, folder / "synthetic")
    for result, memorised in zip(results, seen):
        print(
            f"  {result.system}: checker accuracy {result.metrics['accuracy'].format(percent=True)} on"
            f" {len(pairs)} fresh pairs, {memorised.metrics['accuracy'].format(percent=True)} on its"
            f" {len(memorised.items)} training pairs"
        )

    editor = context.artifacts.get("superedit_editor")
    if editor is None:
        print("  no editor from the superedit stage: skipping Real-Edit")
    else:
        from edit_handbook.evaluation.editing import evaluate_editor

        bench = write_real_edit_folder(folder / "real_edit_bench", context.seed)
        settings = EditingEvaluationArguments(
            edit_num_inference_steps=4, edit_resolution=32, edit_judge_resolution=64, edit_judge_max_new_tokens=32,
            edit_metrics=[],
        )  # fmt: skip
        judge = LocalBackend.from_pretrained(str(captioner), batch_size=16)
        edited = evaluate_editor(editor, bench, judge, folder / "real_edit", settings, system="editor", progress=False)
        unusable = edited.meta.get("judge", {}).get("unusable_answers", {})
        print(f"  editor: {len(edited.items)} Real-Edit edits; unusable judge answers {unusable}")
        print("  (the captioner was never trained to judge: expect unusable answers, counted, not zeros)")
        results.append(edited)
        # No judge needed on synthetic pairs: the editor's edits are scored from their pixels.
        exact = evaluate_synthetic_editing(
            editor, folder / "synthetic_editing", pairs_per_type=4, steps=4, system="editor"
        )
        print(
            f"  editor, pixel-exact on {len(exact.items)} fresh synthetic edits: accuracy"
            f" {exact.metrics['accuracy'].format(percent=True)}, preserved"
            f" {exact.metrics['preservation_rate'].format(percent=True)}"
        )
        results.append(exact)
    report = write_report(results, folder, title="edit-handbook demo evaluation")
    context.artifacts["evaluation_report"] = folder
    context.record("evaluation report", report)
