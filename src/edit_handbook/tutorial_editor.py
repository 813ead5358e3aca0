"""Train the tutorial-scale SuperEdit editor on CPU and score it on held-out synthetic pairs, from the pixels.

    edit-handbook tutorial-editor --config recipes/superedit/tutorial/config_cpu.yaml

Steps: fit (or reuse) the frozen VAE and text encoder (`superedit/tutorial.py`), generate the synthetic
training pairs, train the UNet with the SuperEdit trainer, save the pipeline, then run the
`synthetic-editing` benchmark on fresh pairs (`<output_dir>/evaluation/report.md`). Training time (wall and
CPU seconds) is written to `<output_dir>/timing.json`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from accelerate.state import AcceleratorState, GradientState

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.evaluation.report import write_report
from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing
from edit_handbook.hub.publish import publish_model
from edit_handbook.hub.run_info import collect_run_info
from edit_handbook.models import load_clip_tokenizer
from edit_handbook.script_utils import ScriptParser, run_reporting_errors, setup_logging
from edit_handbook.superedit.configs import (
    SuperEditCacheArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditModelArguments,
    SuperEditTrainingArguments,
    TutorialEditorArguments,
)
from edit_handbook.superedit.trainer import SuperEditTrainer
from edit_handbook.superedit.tutorial import noisy_instructions, prepare_base


CONFIG_CLASSES = (
    TutorialEditorArguments,
    SuperEditModelArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditCacheArguments,
    SuperEditTrainingArguments,
)


def make_parser() -> ScriptParser:
    return ScriptParser(CONFIG_CLASSES)


def train_and_score(configs) -> dict:
    tutorial, model_args, data_args, loss_args, cache_args, training_args = configs
    output_dir = Path(training_args.output_dir)
    base = prepare_base(
        output_dir / "base", load_clip_tokenizer(), reuse=tutorial.tutorial_base,
        image_size=tutorial.tutorial_image_size, vae_steps=tutorial.tutorial_vae_steps,
        text_steps=tutorial.tutorial_text_steps, seed=training_args.seed,
    )  # fmt: skip
    model_args.pretrained_model_name_or_path = str(base)
    data_args.resolution = tutorial.tutorial_image_size
    pairs = generate_dataset(
        tutorial.tutorial_train_pairs, seed=tutorial.tutorial_pairs_seed,
        image_size=tutorial.tutorial_image_size, edit_types=tutorial.tutorial_edit_types,
    )  # fmt: skip
    if tutorial.tutorial_noisy_share:
        pairs = noisy_instructions(pairs, tutorial.tutorial_noisy_share, seed=tutorial.tutorial_pairs_seed)
    trainer = SuperEditTrainer(
        model_args=model_args, data_args=data_args, loss_args=loss_args, cache_args=cache_args,
        args=training_args, train_dataset=pairs,
    )  # fmt: skip
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    timing = {"train_wall_seconds": time.perf_counter() - wall, "train_cpu_seconds": time.process_time() - cpu}
    names = [cls.__name__ for cls in CONFIG_CLASSES]
    editor = trainer.save()
    info = collect_run_info(dict(zip(names, configs)), data_fingerprint=pairs._fingerprint)
    publish_model(editor, info, datasets=["synthetic"], **trainer.card_details())  # run_info.json and the card
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    (output_dir / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    summary = {"editor": str(editor), **timing}
    if tutorial.tutorial_eval_pairs_per_type:
        result = evaluate_synthetic_editing(
            editor, output_dir / "evaluation", pairs_per_type=tutorial.tutorial_eval_pairs_per_type,
            edit_types=tuple(tutorial.tutorial_edit_types), pair_seed=tutorial.tutorial_eval_seed,
            image_size=tutorial.tutorial_image_size, instruction_column=data_args.instruction_column,
            steps=tutorial.tutorial_eval_steps, guidance_scale=tutorial.tutorial_eval_guidance_scale,
            image_guidance_scale=tutorial.tutorial_eval_image_guidance_scale, system=output_dir.name,
        )  # fmt: skip
        write_report([result], output_dir / "evaluation", title="Tutorial editor on held-out synthetic pairs")
        summary["accuracy"] = {k: v["accuracy"].value for k, v in result.groups["edit_type"].items()}
    return summary


def main(argv: list[str] | None = None) -> int:
    configs = make_parser().parse_args_and_config(argv)
    setup_logging(logging.WARNING)
    summary = train_and_score(configs)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
