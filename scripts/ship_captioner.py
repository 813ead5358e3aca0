"""Copy a captioner trained by the tiny-see recipe into a folder with its card and test-seed scores.

    python scripts/ship_captioner.py --checkpoint outputs/editcaption/tiny-see/caption \
        --blind outputs/editcaption/tiny-see/caption-blind --output src/edit_handbook/checkpoints/captioner-tiny-see

Scores come from fresh synthetic pairs of the test seed (used for nothing else: not for tuning, not for stopping),
by the exact checker (`edit_handbook.evaluation.fresh_pairs`), for the trained edit types and, a few pairs each,
for the edit types the recipe does not train. `--blind` scores the blind control (stage 2 of the same recipe
from the same stage-1 model with `dataset_shuffle_images: true`) on the same pairs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
import yaml

from edit_handbook.data.synthetic import EDIT_TYPES, FAILURE_MODE, generate_dataset
from edit_handbook.evaluation.fresh_pairs import score_captioner
from edit_handbook.models import load_vlm


RECIPE = Path("recipes/editcaption/tiny-see/sft/config_caption.yaml")
KEEP = ("config.json", "generation_config.json", "model.safetensors", "chat_template.jinja", "processor_config.json")
KEEP += ("preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SCORES = "scores.json"


def _scores(folder: Path, pairs, others) -> dict:
    model, processor = load_vlm(folder, dtype=torch.float32)
    start = time.perf_counter()
    result = {"trained_types": score_captioner(model, processor, pairs)}
    if others is not None:
        result["untrained_types"] = score_captioner(model, processor, others)
    result["scoring_seconds"] = round(time.perf_counter() - start, 1)
    return result


def _table(scores: dict, blind: dict | None) -> str:
    rows = ["| | this captioner | blind control |", "|---|---|---|"]
    keys = ["checker_accuracy", *(f"checker_accuracy/{m}" for m in ("orientation", "viewpoint", "attribute"))]
    keys += [f"checker_accuracy/{t}" for t in EDIT_TYPES if f"checker_accuracy/{t}" in scores]
    keys += ["answered_rate", "rectified_correct_rate", "negative_valid_rate"]
    for key in keys:
        other = f"{blind[key]:.1%}" if blind and key in blind else "-"
        rows.append(f"| {key} | {scores[key]:.1%} | {other} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--blind", type=Path, help="the blind control's checkpoint (same recipe, shuffled images)")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--test_seed", type=int, default=2026)
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--untrained_pairs_per_type", type=int, default=8)
    parser.add_argument("--training_note", default="", help="how long it trained, on what machine (for the card)")
    args = parser.parse_args()

    recipe = yaml.safe_load(RECIPE.read_text())
    trained = tuple(recipe["dataset_synthetic_edit_types"])
    size = recipe["dataset_synthetic_image_size"]
    pairs = generate_dataset(args.pairs, seed=args.test_seed, image_size=size, edit_types=trained)
    untrained = tuple(t for t in EDIT_TYPES if t not in trained)
    others = None
    if untrained and args.untrained_pairs_per_type:
        count = args.untrained_pairs_per_type * len(untrained)
        others = generate_dataset(count, seed=args.test_seed, image_size=size, edit_types=untrained)

    args.output.mkdir(parents=True, exist_ok=True)
    for name in KEEP:
        if (args.checkpoint / name).is_file():
            shutil.copy2(args.checkpoint / name, args.output / name)
    record = {"test_seed": args.test_seed, "image_size": size, "trained_types": list(trained)}
    record["captioner"] = _scores(args.output, pairs, others)
    if args.blind:
        record["blind_control"] = _scores(args.blind, pairs, None)
    state = args.checkpoint / "trainer_state.json"
    if state.is_file():
        history = json.loads(state.read_text())
        record["steps"] = history["global_step"]
        record["validation_curve"] = [h for h in history["log_history"] if "checker_accuracy" in h]
    (args.output / SCORES).write_text(json.dumps(record, indent=2) + "\n")

    scores = record["captioner"]["trained_types"]
    blind = record.get("blind_control", {}).get("trained_types")
    untrained_line = ""
    if "untrained_types" in record["captioner"]:
        u = record["captioner"]["untrained_types"]
        per_type = ", ".join(
            f"{t} {u[f'checker_accuracy/{t}']:.0%}" for t in untrained if f"checker_accuracy/{t}" in u
        )
        untrained_line = (
            f"\nEdit types the recipe does not train, {u['pairs']} fresh pairs "
            f"({args.untrained_pairs_per_type} per type): checker accuracy {u['checker_accuracy']:.1%} ({per_type}).\n"
        )
    modes = ", ".join(sorted({FAILURE_MODE[t] for t in trained}))
    card = f"""---
library_name: transformers
license: apache-2.0
pipeline_tag: image-text-to-text
tags: [edit-handbook, editcaption, qwen3-vl, synthetic]
---

# editcaption-tiny-see

A fully trained tiny Qwen3-VL (the real architecture, 2 text layers of width 128, a 2-layer vision tower of width
128, 16 px patches, 128 px images = 16 merged tokens per image, RoPE base 1e4, a 640-token synthetic-vocabulary
tokenizer) that writes editing instructions (`caption`) and SuperEdit's four-aspect rectifications (`rectify`)
for the project's synthetic pairs.

## How it was made

    edit-handbook pretrain-vision --config recipes/editcaption/tiny-see/vision/config_vision.yaml
    edit-handbook sft --config recipes/editcaption/tiny-see/sft/config_describe.yaml
    edit-handbook sft --config recipes/editcaption/tiny-see/sft/config_caption.yaml
    edit-handbook sft --config recipes/editcaption/tiny-see/sft/config_caption.yaml --dataset_shuffle_images true \\
        --output_dir outputs/editcaption/tiny-see/caption-blind   # the blind control
    python scripts/ship_captioner.py --checkpoint outputs/editcaption/tiny-see/caption \\
        --blind outputs/editcaption/tiny-see/caption-blind --output {args.output}

{args.training_note}
Why each setting: recipes/editcaption/tiny-see/README.md.

## Scores on fresh pairs (test seed {args.test_seed}, {scores["pairs"]} pairs of {", ".join(trained)}; {modes})

By the exact checker; every pair counts (an empty answer is wrong). The blind control is stage 2 of the same
recipe from the same stage-1 model, trained with the images shuffled across pairs (`--dataset_shuffle_images
true`), so it can learn only the text. Full numbers and the validation curve
(seed 500): `{SCORES}`.

{_table(scores, blind)}
{untrained_line}"""
    (args.output / "README.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
