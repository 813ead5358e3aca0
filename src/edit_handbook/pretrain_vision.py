"""Stage 0 of the captioner that sees: pre-train a tiny VLM's vision tower on synthetic scenes (HF Trainer).

    edit-handbook pretrain-vision --config recipes/editcaption/tiny-see/vision/config_vision.yaml

Every merged image token whose cell holds an object's centre learns to name that object's shape, colour, size,
pattern and, for arrows, heading (one linear head each, `editcaption.vision_pretraining`). The output folder is
the whole VLM with the trained tower and its processor, ready for `edit-handbook sft`; the heads are dropped. Held-out token accuracy on
fresh scenes of `eval_seed` is printed every `eval_every` steps and written to `vision_scores.json`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import Trainer, TrainingArguments, set_seed
from trl import ModelConfig

from edit_handbook.editcaption.modeling import vision_tower
from edit_handbook.editcaption.vision_pretraining import (
    HeldOutTokenAccuracy,
    SceneImages,
    TokenLabelCollator,
    VisionTowerHeads,
    merged_grid,
)
from edit_handbook.models import load_vlm
from edit_handbook.models.registry import resolve_model
from edit_handbook.script_utils import ScriptParser, resume_checkpoint, run_reporting_errors, setup_logging


logger = logging.getLogger(__name__)
SCORES = "vision_scores.json"


@dataclass
class VisionPretrainingArguments:
    """Which synthetic scenes train the tower and which fresh ones measure it."""

    scene_pairs: int = field(
        default=4096, metadata={"help": "Synthetic pairs whose source and edited images are the training scenes."}
    )
    scene_seed: int = field(default=0, metadata={"help": "Generator seed of the training scenes."})
    scene_image_size: int = field(default=128, metadata={"help": "Side of the rendered square images, in pixels."})
    scene_edit_types: list[str] | None = field(
        default=None, metadata={"help": "Edit types whose scenes are drawn (default: all twelve)."}
    )
    eval_seed: int = field(
        default=500, metadata={"help": "Generator seed of the held-out scenes (must differ from scene_seed)."}
    )
    eval_pairs: int = field(default=256, metadata={"help": "Held-out pairs (twice as many images)."})
    eval_every: int = field(
        default=500, metadata={"help": "Steps between held-out measurements (0: only at the end)."}
    )


def make_parser() -> ScriptParser:
    return ScriptParser((VisionPretrainingArguments, TrainingArguments, ModelConfig))


def main(argv: list[str] | None = None) -> int:
    # 1. Parse the recipe and the flags.
    scene_args, training_args, model_args = make_parser().parse_args_and_config(argv)
    if scene_args.eval_seed == scene_args.scene_seed:
        raise ValueError(f"eval_seed {scene_args.eval_seed} is the training seed: choose another for held-out scenes")
    training_args.remove_unused_columns = False  # the collator needs the images
    training_args.label_names = ["labels"]

    # 2. Logging and seed.
    setup_logging(training_args.get_process_log_level())
    set_seed(training_args.seed)

    # 3. Model: the VLM, whose vision tower is trained in place under one head per attribute.
    model, processor = load_vlm(resolve_model(model_args.model_name_or_path), dtype=model_args.dtype or "auto")
    tower = VisionTowerHeads(vision_tower(model), model.config.vision_config.out_hidden_size)

    # 4. Data: rendered on access, labelled per merged token.
    grid = merged_grid(processor.image_processor, scene_args.scene_image_size)
    scenes = {"grid": grid, "image_size": scene_args.scene_image_size, "edit_types": scene_args.scene_edit_types or ()}
    train_images = SceneImages(scene_args.scene_pairs, seed=scene_args.scene_seed, **scenes)
    held_out = SceneImages(scene_args.eval_pairs, seed=scene_args.eval_seed, **scenes)
    collator = TokenLabelCollator(processor.image_processor)
    logger.info("%d training images, %d held-out, %s merged tokens each", len(train_images), len(held_out), grid)

    # 5. Train (resuming from the last checkpoint in output_dir if there is one).
    measure = HeldOutTokenAccuracy(tower, held_out, collator, every=scene_args.eval_every)
    trainer = Trainer(
        model=tower, args=training_args, train_dataset=train_images, data_collator=collator, callbacks=[measure]
    )
    checkpoint = resume_checkpoint(training_args)
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.log_metrics("train", result.metrics)

    # 6. Save the VLM with its trained tower (no heads) and the held-out curve.
    output_dir = Path(training_args.output_dir)
    if trainer.is_world_process_zero():
        model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
        record = {"grid": list(grid), "held_out": measure.history, "train": result.metrics}
        (output_dir / SCORES).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
