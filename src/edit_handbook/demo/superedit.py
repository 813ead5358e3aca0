"""Demo stage: SuperEdit on the shipped tutorial editor: a short triplet-loss fine-tune, its grid, pixel-exact scores.

Training the tutorial editor takes about 7 CPU-minutes (`edit-handbook tutorial-editor`), so the stage starts
from its shipped checkpoint (`fixtures.tutorial_editor_checkpoint`) and runs the SuperEdit trainer for a few
steps with the triplet loss on, at a small learning rate: the point is the trainer's loop and artefacts
(pipeline, card, the grid source | instruction | wrong instruction on held-out pairs), not more learning. Then
the shipped editor and the fine-tuned one edit the same few fresh pairs per edit type, scored from the pixels
(`evaluation.synthetic_editing`): edit accuracy, preservation, and how often a wrong recolour instruction's
colour is what appears.
"""

from __future__ import annotations

from accelerate.state import AcceleratorState, GradientState

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.report import write_report
from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing
from edit_handbook.fixtures import tutorial_editor_checkpoint, tutorial_editor_scores
from edit_handbook.hub.publish import publish_model
from edit_handbook.hub.run_info import collect_run_info
from edit_handbook.superedit.configs import (
    SuperEditCacheArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditModelArguments,
    SuperEditTrainingArguments,
)
from edit_handbook.superedit.trainer import SuperEditTrainer
from edit_handbook.superedit.tutorial import TUTORIAL_EDIT_TYPES

from .context import DemoContext


RESOLUTION = 32  # the tutorial editor's size
SAMPLING = {"steps": 20, "guidance_scale": 3.0, "image_guidance_scale": 1.5}  # as its recipe scores it
BENCHMARK = {"pairs_per_type": 6, "pair_seed": 1000, "edit_types": TUTORIAL_EDIT_TYPES, **SAMPLING}
HELDOUT = len(TUTORIAL_EDIT_TYPES)  # the grid's rows: one held-out pair of each type


def _figures(result) -> str:
    parts = [f"{kind} {m['accuracy'].value:.0%}" for kind, m in result.groups["edit_type"].items()]
    metrics = result.metrics
    line = f"accuracy {metrics['accuracy'].format(percent=True)}: " + ", ".join(parts)
    line += f"; preservation {metrics['preservation_rate'].value:.0%}"
    if "wrong_following_rate" in metrics:
        line += f"; wrong recolour's colour appears {metrics['wrong_following_rate'].value:.0%}"
    return line


def run(context: DemoContext) -> None:
    folder = context.output_dir / "superedit"
    shipped = tutorial_editor_checkpoint()
    pairs = generate_dataset(
        max(context.num_pairs, 64), seed=context.seed, image_size=RESOLUTION, edit_types=TUTORIAL_EDIT_TYPES
    )
    configs = {
        "model": SuperEditModelArguments(pretrained_model_name_or_path=str(shipped)),
        "data": SuperEditDataArguments(resolution=RESOLUTION, instruction_column="instruction", heldout_pairs=HELDOUT),
        "loss": SuperEditLossArguments(triplet_start_step=0),
        "cache": SuperEditCacheArguments(cache_dir=str(folder / "cache"), cache_dtype="float32"),
        "training": SuperEditTrainingArguments(
            output_dir=str(folder / "editor"), seed=context.seed, max_train_steps=30, per_device_train_batch_size=16,
            learning_rate=1e-4, lr_warmup_steps=0, mixed_precision="no", gradient_checkpointing=False,
            use_ema=False, checkpointing_steps=0, validation_steps=30, num_validation_pairs=HELDOUT,
            validation_inference_steps=SAMPLING["steps"], validation_guidance_scale=SAMPLING["guidance_scale"],
            validation_image_guidance_scale=SAMPLING["image_guidance_scale"], logging_steps=10,
        ),
    }  # fmt: skip
    trainer = SuperEditTrainer(
        model_args=configs["model"], data_args=configs["data"], loss_args=configs["loss"],
        cache_args=configs["cache"], args=configs["training"], train_dataset=pairs,
    )  # fmt: skip
    history = trainer.train()
    editor = trainer.save()
    info = collect_run_info(configs, data_fingerprint=pairs._fingerprint)
    publish_model(editor, info, datasets=["synthetic"], **trainer.card_details())
    AcceleratorState._reset_state(True)  # later stages build their own Accelerator
    GradientState._reset_state()
    gaps = [entry for entry in history if "eval_d_neg_minus_d_pos" in entry]
    trend = ", ".join(f"step {entry['step']}: {entry['eval_d_neg_minus_d_pos']:.4f}" for entry in gaps)
    print(f"  held-out d_neg - d_pos: {trend}")

    recorded = tutorial_editor_scores()["scores"]
    print(
        f"  shipped tutorial editor, recorded on {recorded['pairs_per_type']} fresh pairs per type: accuracy "
        + ", ".join(f"{kind} {m['accuracy'][0]:.0%}" for kind, m in recorded["edit_type"].items())
    )
    results = []
    for name, model in (("shipped", shipped), ("fine-tuned", editor)):
        result = evaluate_synthetic_editing(str(model), folder / "benchmark" / name, system=name, **BENCHMARK)
        print(f"  {name}, pixel-exact on {len(result.items)} fresh pairs (seed 1000): {_figures(result)}")
        results.append(result)
    report = write_report(results, folder / "benchmark", title="Tutorial editor on fresh synthetic pairs")
    context.artifacts["superedit_editor"] = editor
    context.record("SuperEdit editor (pipeline + card)", editor)
    context.record("validation grid (source | instruction | wrong instruction)", editor / "validation.png")
    context.record("pixel-exact benchmark of the shipped and fine-tuned editors", report)
