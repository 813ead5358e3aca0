"""EditCaption stage 2: HAE-DPO (adaptive per-pair margins + hard-example sampler) over TRL's DPOTrainer.

    accelerate launch --config_file accelerate_configs/zero3.yaml \
        src/edit_handbook/dpo.py --config recipes/editcaption/qwen3-vl-8b/dpo/config_full.yaml

Starts from an SFT checkpoint (a LoRA one is merged first), runs the reference pass once (resumable; also
`edit-handbook dpo-prepare`), then trains with no reference model in memory. `--dry_run` sizes memory instead.
"""

from __future__ import annotations

import logging
import sys

import torch
from transformers import set_seed
from trl import DPOConfig, ModelConfig

from edit_handbook.distributed import leave_process_group
from edit_handbook.editcaption.configs import (
    DPOScriptArguments,
    HAEMarginArguments,
    HAESamplerArguments,
    ReferencePassArguments,
)
from edit_handbook.editcaption.dpo_setup import (
    load_preference_examples,
    prepare_reference,
    sft_checkpoint,
    with_model_path,
)
from edit_handbook.editcaption.modeling import captioner_peft_config, load_captioner
from edit_handbook.editcaption.prefix_sharing import resolve_prefix_sharing
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
ARGUMENTS = (
    DPOScriptArguments,
    HAEMarginArguments,
    HAESamplerArguments,
    ReferencePassArguments,
    DPOConfig,
    ModelConfig,
)


def make_parser() -> ScriptParser:
    return ScriptParser(ARGUMENTS)


def _setup(argv):
    """Steps 1-2: parse the recipe and the flags; logging and seed."""
    script_args, margin, sampler, reference, training_args, model_args = make_parser().parse_args_and_config(argv)
    setup_logging(training_args.get_process_log_level())
    set_seed(training_args.seed)
    resolve_trainer_speedups(training_args)  # Liger / torch.compile off, with the reason, where they cannot run
    return script_args, margin, sampler, reference, training_args, model_args


def _policy_and_data(script_args, reference, training_args, model_args):
    """Steps 3-4: merged SFT policy, processor, and train/eval examples with the stored reference attached."""
    train, evaluation, report = load_preference_examples(script_args, evaluate=training_args.eval_strategy != "no")
    path = sft_checkpoint(model_args.model_name_or_path, training_args.output_dir)
    model, processor = load_captioner(
        with_model_path(model_args, path),
        min_pixels=script_args.min_pixels,
        max_pixels=script_args.max_pixels,
        freeze_vision_tower=script_args.freeze_vision_tower,
    )
    # decided once, before the reference pass: a conflicting setting fails at start, and training uses the same
    script_args.prefix_sharing = resolve_prefix_sharing(script_args.prefix_sharing, model, training_args)
    splits = prepare_reference(
        model,
        processor,
        {"train": train, "eval": evaluation},
        path,
        reference,
        training_args.output_dir,
        max_length=training_args.max_length,
        prefix_sharing=script_args.prefix_sharing,
    )
    return model, processor, splits["train"], splits["eval"], report


def prepare_main(argv: list[str] | None = None) -> int:
    """`edit-handbook dpo-prepare`: only the reference pass (same recipe as training; resumable)."""
    script_args, _, _, reference, training_args, model_args = _setup(argv)
    _, _, train, _, _ = _policy_and_data(script_args, reference, training_args, model_args)
    logger.info("reference ready: %d training pairs", len(train))
    return 0


def main(argv: list[str] | None = None) -> int:
    # 1-2. Parse the recipe and the flags; logging and seed.
    script_args, margin, sampler, reference, training_args, model_args = _setup(argv)
    if script_args.dry_run:
        from edit_handbook.editcaption.dpo_dry_run import dpo_dry_run

        print(dpo_dry_run(script_args, training_args, model_args).to_text())
        return 0
    from edit_handbook.editcaption.hae_trainer import HAEDPOTrainer

    # 3-4. Data and model: preference pairs with the stored reference pass, the merged SFT policy.
    model, processor, train, evaluation, report = _policy_and_data(script_args, reference, training_args, model_args)
    apply_liger_kernels(model, training_args)

    # 5. Trainer: HAE-DPO (adaptive margins, hard-example sampler), per-checkpoint Hub branches when asked.
    peft_config = captioner_peft_config(model_args, freeze_vision_tower=script_args.freeze_vision_tower)
    base_model = script_args.base_model or model_args.model_name_or_path
    dataset_names = [script_args.dataset_name or script_args.dataset_preset or "synthetic"]
    callbacks = checkpoint_revision_callbacks(
        script_args, training_args, base_model=base_model, datasets=dataset_names
    )
    trainer = HAEDPOTrainer(
        model,
        training_args,
        train,
        processor,
        eval_dataset=evaluation,
        peft_config=peft_config,
        margin=margin,
        sampler=sampler,
        reference_check_tolerance=reference.reference_check_tolerance,
        prefix_sharing=script_args.prefix_sharing,
        callbacks=callbacks,
    )
    logger.info(
        "reference model in memory: %s; prefix sharing: %s", trainer.ref_model is not None, trainer.prefix_sharing
    )

    # 6. Train (resuming from the last checkpoint in output_dir if there is one).
    checkpoint = resume_checkpoint(training_args)
    train_result = trainer.train(resume_from_checkpoint=checkpoint)
    metrics = dict(train_result.metrics)
    if torch.cuda.is_available():
        metrics["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 1024**3
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    if evaluation is not None:
        trainer.log_metrics("eval", trainer.evaluate())

    # 7. Save, then publish: run_info, model card, and the push when asked.
    save_and_publish_captioner(
        trainer,
        processor,
        training_args,
        sections={"script": script_args, "margin": margin, "sampler": sampler, "model": model_args},
        train_dataset=train,
        report=report,
        metrics=metrics,
        base_model=base_model,
        datasets=dataset_names,
        recipe_config={**vars(margin), **vars(sampler)},
    )
    leave_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
