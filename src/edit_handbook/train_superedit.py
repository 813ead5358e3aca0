"""Fine-tune an InstructPix2Pix editor with SuperEdit's rectified instructions and triplet loss.

    accelerate launch --config_file accelerate_configs/ddp.yaml src/edit_handbook/train_superedit.py \\
        --config recipes/superedit/sd15/train/config_paper.yaml
    edit-handbook train-superedit --config recipes/superedit/smoke/train/config_smoke.yaml

Recipe keys and CLI flags are the fields of `DataArguments` and the `SuperEdit*Arguments` in
`edit_handbook.data.configs` and `edit_handbook.superedit.configs`; flags override the YAML.
"""

from __future__ import annotations

import sys

from accelerate import PartialState
from accelerate.utils import parse_flag_from_env
from trl import TrlParser

from edit_handbook.data.configs import DataArguments
from edit_handbook.data.loading import load_edit_pairs
from edit_handbook.distributed import leave_process_group
from edit_handbook.hub.publish import MODEL_FOLDER_IGNORE, push_folder
from edit_handbook.hub.run_info import collect_run_info
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


def make_parser() -> TrlParser:
    return TrlParser(CONFIG_CLASSES)


def main(argv: list[str] | None = None) -> int:
    configs = make_parser().parse_args_and_config(args=argv)
    data_args, model_args, input_args, loss_args, cache_args, training_args = configs
    if training_args.push_to_hub and not training_args.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. your-name/superedit-sd15)")

    # Same device choice as the Accelerator the trainer makes (accelerate launch --cpu sets the flag).
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    with state.main_process_first():  # one process fills the datasets cache, the others read it
        dataset, report = load_edit_pairs(**data_args.load_kwargs())
    state.print(report.summary())

    trainer = SuperEditTrainer(
        model_args=model_args,
        data_args=input_args,
        loss_args=loss_args,
        cache_args=cache_args,
        args=training_args,
        train_dataset=dataset,
    )
    trainer.train()
    run_info = collect_run_info(
        dict(zip([cls.__name__ for cls in CONFIG_CLASSES], configs)),
        data_fingerprint=dataset._fingerprint,
        data_report=report.to_dict(),
    )
    output_dir = trainer.save(
        run_info, dataset_names=[data_args.dataset_name or data_args.dataset_preset or "synthetic"]
    )
    if training_args.push_to_hub and state.is_main_process:
        url = push_folder(
            output_dir,
            training_args.hub_model_id,
            private=training_args.hub_private,
            ignore_patterns=MODEL_FOLDER_IGNORE,
        )  # the accelerate checkpoints (optimizer states) stay local
        print(f"pushed {output_dir} to {url}")
    state.print(f"saved the editor to {output_dir}")
    leave_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
