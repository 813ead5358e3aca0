"""`dpo.py --dry_run`: the SFT dry run's meta-device model and memory estimate, on one collated preference batch.

A DPO batch holds each pair twice (chosen and rejected rows), which the estimate sees through the batch's
token count; with prefix sharing (on where supported) it holds one packed row per pair, each prompt and its
images once, and the estimate counts those. No reference model is counted: HAE-DPO keeps none in memory (the reference pass stores its
log-probs), so weights, gradients and optimizer states are those of the policy alone.
"""

from __future__ import annotations

from pathlib import Path

from edit_handbook.editcaption.dpo_setup import load_preference_examples
from edit_handbook.editcaption.dry_run import (
    DryRunReport,
    Parallelism,
    estimate_memory,
    meta_model,
    model_config,
    parameter_counts,
    recipe_batch,
    reference_processor,
)
from edit_handbook.editcaption.prefix_sharing import PACKED_IDS, SharedPrefixPreferenceCollator, resolve_prefix_sharing


def dpo_dry_run(script_args, training_args, model_args) -> DryRunReport:
    name = model_args.model_name_or_path
    if not Path(name).exists() and script_args.base_model:  # the SFT checkpoint is not trained yet
        name = script_args.base_model
    config, source = model_config(name, script_args.model_config_overrides)
    model = meta_model(config, script_args, model_args)
    total, trainable, vision = parameter_counts(model)
    processor = reference_processor(name, config, script_args)
    sharing = resolve_prefix_sharing(script_args.prefix_sharing, model, training_args)
    collator = SharedPrefixPreferenceCollator(processor, training_args.max_length, prefix_sharing=sharing)
    batch, note = recipe_batch(script_args, training_args, load_preference_examples, collator)
    if sharing:  # what the model runs: the packed rows
        batch = {"input_ids": batch[PACKED_IDS], "pixel_values": batch["pixel_values"]}
    rows = "packed input_ids (one row per pair)" if sharing else "input_ids (chosen + rejected rows)"
    image_tokens = (batch["input_ids"] == config.image_token_id).sum(dim=1)
    summary = {
        "data": note,
        rows: tuple(batch["input_ids"].shape),
        "image_tokens_per_example": int(image_tokens.max()),
        "reference model in memory": "none (stored reference pass)",
        "prefix sharing": sharing,
    }
    parallelism = Parallelism.from_accelerate_config(script_args.accelerate_config)
    memory = estimate_memory(config, batch, parallelism, training_args, total, trainable)
    return DryRunReport(name, source, parallelism, total, trainable, vision, summary, memory)
