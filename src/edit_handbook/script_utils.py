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
# Errors that say the input is wrong (a path, a flag, a row): their messages name the fix, so a script prints
# the message alone. EDIT_HANDBOOK_TRACEBACK=1 shows the traceback too.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


class RedactingFilter(logging.Filter):
    """Log records with credentials (URL user:key, token flags, token shapes) masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        from edit_handbook.redaction import redact

        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def run_reporting_errors(main, argv: list[str] | None = None, name: str | None = None) -> int:
    """`main(argv)`, with a bad input reported as one line on stderr (exit status 2) instead of a traceback."""
    try:
        return main(argv) or 0
    except USER_ERRORS as error:
        if os.environ.get("EDIT_HANDBOOK_TRACEBACK"):
            raise
        print(f"{name or os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
        return 2


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
    for handler in logging.getLogger().handlers:  # a URL or flag quoted in a log line loses its credentials
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
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


def save_and_publish_captioner(
    trainer,
    processor,
    training_args,
    *,
    sections: dict,
    train_dataset,
    report,
    metrics: dict,
    base_model: str,
    datasets: list[str],
    recipe_config: dict,
) -> str | None:
    """Step 7 of the SFT and DPO scripts: the weights and processor, then (main process) `run_info`, the model card
    and the push when asked, through `hub.publish.publish_model`. Returns the commit URL, or None."""
    from edit_handbook.editcaption.prompts import PROMPT_VERSION
    from edit_handbook.hub.publish import publish_model
    from edit_handbook.hub.run_info import collect_run_info

    trainer.save_model(training_args.output_dir)
    if not trainer.accelerator.is_main_process:
        return None
    processor.save_pretrained(training_args.output_dir)
    info = collect_run_info(
        {**sections, "training": training_args.to_dict()},
        data_fingerprint=getattr(train_dataset, "_fingerprint", None),
        prompt_version=PROMPT_VERSION,
        validation=report.to_dict(),
        train_metrics=metrics,
    )
    url = publish_model(
        training_args.output_dir,
        info,
        kind="captioner",
        base_model=base_model,
        datasets=datasets,
        recipe_config={"prompt_version": PROMPT_VERSION, **recipe_config, **training_args.to_dict()},
        hub_model_id=training_args.hub_model_id,
        push=training_args.push_to_hub,
        revision=training_args.hub_revision,
    )
    if url:
        logging.getLogger(__name__).info("pushed to %s", url)
    return url
