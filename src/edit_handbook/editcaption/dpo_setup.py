"""The steps `dpo.py` and `dpo-prepare` share: preference examples, the SFT checkpoint, the stored reference.

- `load_preference_examples`: validated preference rows (the data layer) as DPO examples, train and eval.
- `sft_checkpoint`: a LoRA SFT checkpoint is merged into its base model once and saved, so the reference
  pass and the policy start from the same full weights (and ZeRO-3 can load them sharded).
- `prepare_reference`: runs (or resumes, or reuses) the reference pass for each split and attaches its columns.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import datasets
from accelerate import PartialState

from edit_handbook.data.splits import split_by_source_pair
from edit_handbook.editcaption.modeling import resolve_model
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.reference_pass import (
    attach_reference,
    model_fingerprint,
    reference_fingerprint,
    run_reference_pass,
)


logger = logging.getLogger(__name__)
ADAPTER_CONFIG = "adapter_config.json"


def load_preference_examples(script_args, *, evaluate: bool):
    """(train, eval or None, validation report) for `DPOScriptArguments`, as DPO preference examples."""
    from edit_handbook.data.loading import SYNTHETIC, load_edit_pairs
    from edit_handbook.data.synthetic import generate_dataset, preference_pairs

    kwargs = script_args.load_kwargs()
    if kwargs["source"] == SYNTHETIC:
        kwargs["source"] = preference_pairs(
            generate_dataset(
                script_args.dataset_synthetic_pairs,
                seed=script_args.dataset_seed,
                image_size=script_args.dataset_synthetic_image_size,
                edit_types=script_args.dataset_synthetic_edit_types,
            )
        )
    train, report = load_edit_pairs(**kwargs)
    evaluation = None
    if evaluate and script_args.dataset_eval_fraction > 0:
        # by source pair: the rows of one pair (one per rejected answer) never straddle train and eval
        train, evaluation = split_by_source_pair(
            train, script_args.dataset_eval_fraction, seed=script_args.dataset_seed
        )
    elif evaluate:
        evaluation, _ = load_edit_pairs(**script_args.load_kwargs(script_args.dataset_test_split))
    return (
        to_preference_examples(train),
        (to_preference_examples(evaluation) if evaluation is not None else None),
        report,
    )


def sft_checkpoint(name_or_path: str, output_dir: str | Path) -> str:
    """The full-weight SFT checkpoint to start from: a LoRA adapter folder is merged once into `output_dir`."""
    path = resolve_model(name_or_path)
    if not Path(path, ADAPTER_CONFIG).is_file():
        return path
    merged = Path(output_dir, "sft-merged")
    state = PartialState()
    if state.is_main_process and not (merged / "config.json").is_file():
        from peft import PeftConfig, PeftModel
        from transformers import AutoModelForImageTextToText, AutoProcessor

        logger.info("merging the LoRA SFT checkpoint %s into %s", path, merged)
        base = AutoModelForImageTextToText.from_pretrained(PeftConfig.from_pretrained(path).base_model_name_or_path)
        PeftModel.from_pretrained(base, path).merge_and_unload().save_pretrained(merged)
        AutoProcessor.from_pretrained(path).save_pretrained(merged)
    state.wait_for_everyone()
    return str(merged)


def prepare_reference(
    model,
    processor,
    splits: dict[str, datasets.Dataset],
    model_path: str,
    reference_args,
    output_dir,
    *,
    max_length: int | None = None,
    prefix_sharing: bool | None = None,
):
    """Each split with the stored reference columns; computed once per (model, data, settings), then reused.

    `max_length` is the trainer's: the reference pass truncates exactly as training does. `prefix_sharing`: as
    training's (the stored log-probs equal the unshared ones within float noise either way).
    """
    root = Path(reference_args.reference_dir or os.path.join(output_dir, "reference"))
    dtype = next(model.parameters()).dtype
    model_fp = model_fingerprint(model_path)
    out = {}
    for name, examples in splits.items():
        if examples is None:
            out[name] = None
            continue
        rows = run_reference_pass(
            model,
            processor,
            examples,
            root / name,
            fingerprint=reference_fingerprint(model_fp, examples, processor, dtype, max_length),
            batch_size=reference_args.reference_batch_size,
            shard_size=reference_args.reference_shard_size,
            overwrite=reference_args.reference_overwrite,
            max_length=max_length,
            prefix_sharing=prefix_sharing,
        )
        out[name] = attach_reference(examples, rows)
        logger.info("reference for %s: %d pairs in %s", name, len(rows), root / name)
    return out


def with_model_path(model_args, path: str):
    """ModelConfig pointing at `path` (the merged SFT checkpoint), other settings unchanged."""
    args = copy.copy(model_args)
    args.model_name_or_path = path
    return args
