"""The runs the DeepSpeed ZeRO tests make twice: sharded (2 ranks, ZeRO-2/3) and plain (1 process, no DeepSpeed).

One definition serves both sides, so "the same run" differs only in the launcher and in how the global batch is
made: RANKS ranks of one micro-batch each, or one process accumulating RANKS micro-batches of the same size.
Both see the same micro-batches in the same order (so the same padding), all in fp32.
"""

from __future__ import annotations

from pathlib import Path


RANKS = 2
MICRO_BATCH = 2  # per rank, or per accumulated micro-batch of the plain run
SFT_STEPS, DPO_STEPS, SUPEREDIT_STEPS = 4, 3, 4


def _common(output_dir: Path, accumulation: int) -> list[str]:
    return [
        "--output_dir", str(output_dir), "--per_device_train_batch_size", str(MICRO_BATCH),
        "--gradient_accumulation_steps", str(accumulation),
        "--use_cpu", "true", "--bf16", "false", "--gradient_checkpointing", "false", "--max_length", "none",
        "--lr_scheduler_type", "constant", "--report_to", "none", "--logging_steps", "1", "--disable_tqdm", "true",
        "--dataloader_num_workers", "0", "--seed", "3",
    ]  # fmt: skip


def _data(pairs: int) -> list[str]:
    return [
        "--dataset_name", "synthetic", "--dataset_synthetic_pairs", str(pairs), "--dataset_synthetic_image_size",
        "32", "--dataset_synthetic_edit_types", "move", "recolour", "--max_pixels", "4096",
    ]  # fmt: skip


def sft_args(model: Path, output_dir: Path, *, accumulation: int, lora: bool, max_steps: int) -> list[str]:
    """SFT on 8 synthetic pairs, a checkpoint every 2 steps (the sharded side stops at 2, then resumes to 4)."""
    # No LoRA dropout: each process draws its own masks, so with it no two process layouts train alike.
    peft = ["--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "all-linear"]
    peft += ["--lora_dropout", "0"]
    return [
        "--model_name_or_path", str(model), "--dtype", "float32", *_data(8), *_common(output_dir, accumulation),
        "--learning_rate", "1e-3", "--max_steps", str(max_steps), "--save_strategy", "steps", "--save_steps", "2",
        *(peft if lora else []),
    ]  # fmt: skip


def dpo_args(model: Path, output_dir: Path, *, accumulation: int) -> list[str]:
    """HAE-DPO (margins + hard-example sampler) with a tight step-0 check of the stored reference."""
    return [
        "--model_name_or_path", str(model), "--dtype", "float32", *_data(8), *_common(output_dir, accumulation),
        "--learning_rate", "5e-4", "--max_steps", str(DPO_STEPS), "--save_strategy", "no", "--beta", "0.1",
        "--reference_batch_size", "2", "--reference_check_tolerance", "1e-5", "--min_pixels", "1024",
    ]  # fmt: skip


def superedit_args(model: Path, output_dir: Path, *, accumulation: int, max_steps: int) -> list[str]:
    """SuperEdit with EMA and the triplet term from step 2; a checkpoint every 2 steps.

    Channels-last is off on both sides: DeepSpeed keeps the default layout, and the plain run must compute alike.
    """
    return [
        "--pretrained_model_name_or_path", str(model), "--output_dir", str(output_dir),
        "--dataset_name", "synthetic", "--dataset_synthetic_pairs", "12", "--dataset_seed", "0",
        "--resolution", "32", "--instruction_column", "rectified_instruction",
        "--negatives_column", "negative_instructions", "--heldout_pairs", "4",
        "--triplet_start_step", "2", "--triplet_margin", "5e-3", "--conditioning_dropout_prob", "0.1",
        "--cache_latents", "true", "--cache_text_embeddings", "true", "--cache_dtype", "float32",
        "--cache_dir", str(output_dir / "cache"), "--seed", "42", "--max_train_steps", str(max_steps),
        "--per_device_train_batch_size", str(MICRO_BATCH), "--gradient_accumulation_steps", str(accumulation),
        "--learning_rate", "1e-3", "--lr_scheduler", "constant", "--mixed_precision", "no",
        "--gradient_checkpointing", "false", "--channels_last", "false", "--use_ema", "true", "--ema_decay", "0.9", "--checkpointing_steps", "2",
        "--validation_steps", "0", "--logging_steps", "1", "--report_to", "none", "--resume_from_checkpoint", "latest",
    ]  # fmt: skip


# Greedy answers of a barely trained model are runs of one whitespace token; forbidding repeats keeps decoding
# greedy and deterministic while making the answers words, so "identical outputs" compares something.
DESCRIBE_KWARGS = {"batch_size": 2, "max_new_tokens": 12, "no_repeat_ngram_size": 1}
DESCRIBE_SPLIT = ([0, 1, 2], [3])  # pairs per rank: uneven, so rank 1 runs a throw-away batch to stay in step


def describe_pairs():
    from edit_handbook.data.synthetic import generate_dataset

    return generate_dataset(4, seed=11, image_size=32, edit_types=("move", "recolour"))
