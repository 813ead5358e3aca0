"""What every entry script shares: one parser (recipe YAML + flags, with the CPU fallback), logging, resuming.

The entry scripts (`sft`, `dpo`, `train_superedit`, `synthesize`, `evaluate`, `generate`, `validate`) all have the
same shape: parse, set up logging, data, model, trainer, train, save and publish, in commented steps.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys

import torch
from trl import TrlParser


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ScriptParser(TrlParser):
    """`TrlParser` for a script's config dataclasses that also reads GPU recipes without a GPU.

    `TrainingArguments` refuses `bf16: true` unless a GPU is present or `use_cpu` is set. Without a GPU the run
    is on the CPU anyway, so when a config has a `use_cpu` field it is set (unless given): dry runs and recipe
    checks work on any machine.
    """

    def __init__(self, dataclass_types, **kwargs):
        super().__init__(dataclass_types, **kwargs)
        self.cpu_fallback = any(
            "use_cpu" in {field.name for field in dataclasses.fields(kind)} for kind in self.dataclass_types
        )

    def parse_args_and_config(self, args=None, **kwargs):
        args = list(sys.argv[1:] if args is None else args)
        if self.cpu_fallback and not torch.cuda.is_available() and not any(a.startswith("--use_cpu") for a in args):
            args += ["--use_cpu", "true"]
        return super().parse_args_and_config(args, **kwargs)


def setup_logging(level: int = logging.INFO) -> None:
    """One log format for every script; `datasets` and `transformers` log at the same level."""
    import datasets
    import transformers

    logging.basicConfig(format=LOG_FORMAT, level=level)
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)


def resume_checkpoint(training_args) -> str | None:
    """`resume_from_checkpoint` when given, else the newest checkpoint in `output_dir` (None if there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    if training_args.resume_from_checkpoint is not None:
        return training_args.resume_from_checkpoint
    if os.path.isdir(training_args.output_dir):
        return get_last_checkpoint(training_args.output_dir)
    return None
