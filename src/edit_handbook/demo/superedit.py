"""Demo stage: train the smoke SuperEdit editor on rectified synthetic pairs with negatives, then edit one image."""

from __future__ import annotations

from accelerate.state import AcceleratorState, GradientState
from diffusers import StableDiffusionInstructPix2PixPipeline

from edit_handbook.data import schema
from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.hub.publish import publish_model
from edit_handbook.hub.run_info import collect_run_info
from edit_handbook.models.registry import TINY_INSTRUCT_PIX2PIX
from edit_handbook.superedit.configs import (
    SuperEditCacheArguments,
    SuperEditDataArguments,
    SuperEditLossArguments,
    SuperEditModelArguments,
    SuperEditTrainingArguments,
)
from edit_handbook.superedit.trainer import SuperEditTrainer

from .context import DemoContext


def run(context: DemoContext) -> None:
    folder = context.output_dir / "superedit"
    pairs = generate_dataset(max(context.num_pairs, 24), seed=context.seed, image_size=context.image_size)
    configs = {
        "model": SuperEditModelArguments(pretrained_model_name_or_path=TINY_INSTRUCT_PIX2PIX),
        "data": SuperEditDataArguments(resolution=32, heldout_pairs=8),
        "loss": SuperEditLossArguments(triplet_start_step=10),
        "cache": SuperEditCacheArguments(cache_dir=str(folder / "cache"), cache_dtype="float32"),
        "training": SuperEditTrainingArguments(
            output_dir=str(folder / "editor"),
            seed=context.seed,
            max_train_steps=30,
            per_device_train_batch_size=8,
            learning_rate=1e-3,
            mixed_precision="no",
            gradient_checkpointing=False,
            ema_decay=0.9,
            checkpointing_steps=0,
            validation_steps=15,
            validation_inference_steps=3,
            logging_steps=5,
        ),  # fmt: skip
    }
    trainer = SuperEditTrainer(
        model_args=configs["model"], data_args=configs["data"], loss_args=configs["loss"],
        cache_args=configs["cache"], args=configs["training"], train_dataset=pairs,
    )  # fmt: skip
    history = trainer.train()
    editor = trainer.save()
    info = collect_run_info(configs, data_fingerprint=pairs._fingerprint)
    publish_model(editor, info, datasets=["synthetic"], **trainer.card_details())
    AcceleratorState._reset_state(True)  # later stages build their own Accelerator
    GradientState._reset_state()

    row = pairs[len(pairs) - 1]  # a held-out pair
    pipeline = StableDiffusionInstructPix2PixPipeline.from_pretrained(editor)  # the saved artefact, as users load it
    pipeline.set_progress_bar_config(disable=True)
    source = row[schema.SOURCE_IMAGE].convert("RGB").resize((32, 32))
    edited = pipeline(row[schema.RECTIFIED], image=source, num_inference_steps=10).images[0]
    source.save(folder / "source.png")
    edited.save(folder / "edited.png")
    gaps = [entry for entry in history if "eval_d_neg_minus_d_pos" in entry]
    trend = ", ".join(f"step {entry['step']}: {entry['eval_d_neg_minus_d_pos']:.4f}" for entry in gaps)
    print(f"  held-out d_neg - d_pos: {trend}")
    context.artifacts["superedit_editor"] = editor
    context.record("SuperEdit editor (pipeline + card)", editor)
    context.record("validation grid (source | instruction | wrong instruction)", editor / "validation.png")
    context.record(f"one edit: {row[schema.RECTIFIED][:60]}...", folder / "edited.png")
