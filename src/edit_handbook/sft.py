"""EditCaption stage 1: supervised fine-tuning of a two-image instruction writer with TRL's SFTTrainer.

    accelerate launch --config_file accelerate_configs/zero3.yaml \
        src/edit_handbook/sft.py --config recipes/editcaption/qwen3-vl-8b/sft/config_full.yaml

Each example shows the source image then the edited image (labelled) and asks for the instruction
(`caption`) or SuperEdit's four-aspect description (`rectify`); the loss covers only the answer.
`--dry_run` builds the model on the meta device and sizes one GPU's memory instead of training.
"""

from __future__ import annotations

import logging
import sys

from transformers import set_seed
from trl import ModelConfig, SFTConfig

from edit_handbook.distributed import leave_process_group
from edit_handbook.editcaption.configs import SFTScriptArguments
from edit_handbook.editcaption.modeling import CaptionerSFTTrainer, captioner_peft_config, load_captioner
from edit_handbook.editcaption.sft_data import checker_callback, load_sft_datasets
from edit_handbook.hub.revisions import checkpoint_revision_callbacks
from edit_handbook.models.acceleration import apply_liger_kernels, resolve_trainer_speedups
from edit_handbook.script_utils import (
    ScriptParser,
    resume_checkpoint,
    run_reporting_errors,
    save_and_publish_captioner,
    setup_logging,
)


logger = logging.getLogger(__name__)


def make_parser() -> ScriptParser:
    return ScriptParser((SFTScriptArguments, SFTConfig, ModelConfig))


def _clip_tokenizer(script_args: SFTScriptArguments):
    if "rectify" not in script_args.tasks:
        return None
    from edit_handbook.models import load_clip_tokenizer

    return load_clip_tokenizer()


def main(argv: list[str] | None = None) -> int:
    # 1. Parse the recipe and the flags.
    script_args, training_args, model_args = make_parser().parse_args_and_config(argv)
    if script_args.dry_run:
        from edit_handbook.editcaption.dry_run import dry_run

        print(dry_run(script_args, training_args, model_args).to_text())
        return 0

    # 2. Logging and seed.
    setup_logging(training_args.get_process_log_level())
    set_seed(training_args.seed)
    resolve_trainer_speedups(training_args)  # Liger / torch.compile off, with the reason, where they cannot run

    # 3. Data: the edit pairs, validated, as prompt/completion examples.
    evaluate = training_args.eval_strategy != "no"
    train_dataset, eval_dataset, report = load_sft_datasets(
        script_args, evaluate=evaluate, clip_tokenizer=_clip_tokenizer(script_args)
    )
    logger.info("data: %s; %d training examples (tasks: %s)", report.summary(), len(train_dataset), script_args.tasks)

    # 4. Model and processor.
    model, processor = load_captioner(
        model_args,
        min_pixels=script_args.min_pixels,
        max_pixels=script_args.max_pixels,
        freeze_vision_tower=script_args.freeze_vision_tower,
        trust_remote_code=training_args.trust_remote_code,
    )
    apply_liger_kernels(model, training_args)

    # 5. Trainer, with the per-checkpoint Hub branches and checker-driven stopping when asked.
    dataset_names = [script_args.dataset_name or script_args.dataset_preset or "synthetic"]
    callbacks = checkpoint_revision_callbacks(
        script_args, training_args, base_model=model_args.model_name_or_path, datasets=dataset_names
    )
    if script_args.stop_at_checker_accuracy is not None or script_args.checker_eval_seed is not None:
        callbacks.append(checker_callback(script_args, processor))
    trainer = CaptionerSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=captioner_peft_config(model_args, freeze_vision_tower=script_args.freeze_vision_tower),
        callbacks=callbacks,
        vision_tower_lr_scale=script_args.vision_tower_lr_scale,
    )

    # 6. Train (resuming from the last checkpoint in output_dir if there is one).
    checkpoint = resume_checkpoint(training_args)
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.log_metrics("train", train_result.metrics)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    if eval_dataset is not None:
        trainer.log_metrics("eval", trainer.evaluate())

    # 7. Save, then publish: run_info, model card, and the push when asked.
    save_and_publish_captioner(
        trainer,
        processor,
        training_args,
        sections={"script": script_args, "model": model_args},
        train_dataset=train_dataset,
        report=report,
        metrics=train_result.metrics,
        base_model=model_args.model_name_or_path,
        datasets=dataset_names,
        recipe_config={"tasks": script_args.tasks},
    )
    leave_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
