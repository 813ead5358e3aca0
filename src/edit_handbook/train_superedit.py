"""Fine-tune an InstructPix2Pix editor with SuperEdit's rectified instructions and triplet loss.

    accelerate launch --config_file accelerate_configs/ddp.yaml src/edit_handbook/train_superedit.py \\
        --config recipes/superedit/sd15/train/config_paper.yaml
    edit-handbook train-superedit --config recipes/superedit/smoke/train/config_smoke.yaml

Recipe keys and CLI flags are the fields of `DataArguments` and the `SuperEdit*Arguments` in
`edit_handbook.data.configs` and `edit_handbook.superedit.configs`; flags override the YAML.
"""

from __future__ import annotations

import logging
import sys

from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.distributed import leave_process_group, process_state
from edit_handbook.hub.publish import publish_model
from edit_handbook.hub.revisions import revision_pusher
from edit_handbook.hub.run_info import collect_run_info
from edit_handbook.script_utils import ScriptParser, run_reporting_errors, setup_logging
from edit_handbook.superedit.configs import (
    SuperEditCacheArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditModelArguments,
    SuperEditTrainingArguments,
)
from edit_handbook.superedit.trainer import SuperEditTrainer


CONFIG_CLASSES = (
    DataArguments,
    SuperEditModelArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditCacheArguments,
    SuperEditTrainingArguments,
)


def make_parser() -> ScriptParser:
    return ScriptParser(CONFIG_CLASSES)


def main(argv: list[str] | None = None) -> int:
    # 1. Parse the recipe and the flags.
    configs = make_parser().parse_args_and_config(argv)
    data_args, model_args, input_args, loss_args, cache_args, training_args = configs
    if training_args.push_to_hub and not training_args.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. your-name/superedit-sd15)")

    # 2. Logging (the trainer seeds everything it draws from `seed`).
    setup_logging(logging.WARNING)
    state = process_state()  # made before the trainer's Accelerator, which shares it

    # 3. Data: the edit pairs, validated (one process fills the datasets cache, the others read it).
    with state.main_process_first():
        dataset, report = load_edit_pairs(**data_args.load_kwargs())
    state.print(report.summary())

    # 4-5. Model and trainer: the editor's UNet trains, the frozen encoders are cached; every checkpoint's
    # editing pipeline goes to its own Hub branch when push_checkpoint_revisions is set.
    dataset_names = [data_args.dataset_name or data_args.dataset_preset or "synthetic"]
    pusher = revision_pusher(
        training_args.push_checkpoint_revisions,
        training_args.hub_model_id,
        revision=training_args.hub_revision,
        private=training_args.hub_private,
        kind="editor",
        base_model=model_args.pretrained_model_name_or_path,
        datasets=dataset_names,
    )
    trainer = SuperEditTrainer(
        model_args=model_args,
        data_args=input_args,
        loss_args=loss_args,
        cache_args=cache_args,
        args=training_args,
        train_dataset=dataset,
        revision_pusher=pusher,
    )

    # 6. Train (resuming from resume_from_checkpoint when given).
    trainer.train()

    # 7. Save, then publish: run_info, model card, and the push when asked.
    output_dir = trainer.save()
    if state.is_main_process:
        info = collect_run_info(
            dict(zip([cls.__name__ for cls in CONFIG_CLASSES], configs)),
            data_fingerprint=dataset._fingerprint,
            data_report=report.to_dict(),
        )
        url = publish_model(
            output_dir,
            info,
            datasets=dataset_names,
            hub_model_id=training_args.hub_model_id,
            push=training_args.push_to_hub,
            revision=training_args.hub_revision,
            private=training_args.hub_private,
            **trainer.card_details(),
        )
        if url:
            print(f"pushed {output_dir} to {url}")
    state.print(f"saved the editor to {output_dir}")
    leave_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
