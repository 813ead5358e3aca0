"""Copy an editor trained by the tutorial-editor recipe into the package, in fp16, with its card and scores.

    edit-handbook tutorial-editor --config recipes/superedit/tutorial-editor/tutorial/config_cpu.yaml \
        --output_dir outputs/tutorial-editor
    python scripts/ship_tutorial_editor.py --checkpoint outputs/tutorial-editor \
        --output src/edit_handbook/checkpoints/tutorial-editor

The shipped folder is an ordinary diffusers `StableDiffusionInstructPix2PixPipeline` folder (load it with
`load_instruct_pix2pix`, which loads in fp32), kept small: weights stored as fp16 safetensors, the tokenizer as
CLIP's `vocab.json` + `merges.txt` (no 3.6 MB `tokenizer.json`), and no training metrics. The scores in
`scores.json` and the card are those of the shipped fp16 weights, on fresh pairs of the recipe's evaluation seed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from edit_handbook.evaluation.synthetic_editing import evaluate_synthetic_editing


WEIGHTS = {"unet": "diffusion_pytorch_model.safetensors", "vae": "diffusion_pytorch_model.safetensors"}
WEIGHTS["text_encoder"] = "model.safetensors"
SCORES = "scores.json"
METRICS = ("accuracy", "change_rate", "preservation_rate", "wrong_following_rate")


def copy_fp16(checkpoint: Path, output: Path) -> None:
    shutil.copy2(checkpoint / "model_index.json", output / "model_index.json")
    shutil.copytree(checkpoint / "scheduler", output / "scheduler", dirs_exist_ok=True)
    for part, weights in WEIGHTS.items():
        (output / part).mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkpoint / part / "config.json", output / part / "config.json")
        tensors = {
            name: t.to(torch.float16).contiguous() for name, t in load_file(checkpoint / part / weights).items()
        }
        save_file(tensors, output / part / weights, metadata={"format": "pt"})
    from edit_handbook.models import load_clip_tokenizer

    with tempfile.TemporaryDirectory() as scratch:
        load_clip_tokenizer().save_pretrained(scratch)  # the same real CLIP tokenizer the recipe trains with
        (output / "tokenizer").mkdir(exist_ok=True)
        for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
            source = Path(scratch) / name
            if not source.is_file():  # transformers 5 saves only tokenizer.json: take the files it was built from
                from edit_handbook.models.tokenizers import clip_tokenizer_path

                source = clip_tokenizer_path() / name
            shutil.copy2(source, output / "tokenizer" / name)


def score(folder: Path, pairs_per_type: int, seed: int) -> dict:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        result = evaluate_synthetic_editing(str(folder), scratch, pairs_per_type=pairs_per_type, pair_seed=seed)
    row = lambda metrics: {k: [metrics[k].value, metrics[k].low, metrics[k].high] for k in METRICS if k in metrics}  # noqa: E731
    return {
        "pairs_per_type": pairs_per_type,
        "pair_seed": seed,
        "sampling": result.meta["sampling"],
        "all": row(result.metrics),
        "edit_type": {kind: row(metrics) for kind, metrics in result.groups["edit_type"].items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--pairs_per_type", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1000, help="the recipe's evaluation seed (never trained on)")
    args = parser.parse_args()

    args.output.mkdir(parents=True, exist_ok=True)
    copy_fp16(args.checkpoint, args.output)
    run_info = json.loads((args.checkpoint / "run_info.json").read_text())
    timing = json.loads((args.checkpoint / "timing.json").read_text())
    record = {
        # the run's own output folder is a local path: the card names it by role
        "command": run_info.get("command", "").replace(str(args.checkpoint), "<output_dir>"),
        "commit": run_info.get("git_sha"),
        "timing": timing,
        "scores": score(args.output, args.pairs_per_type, args.seed),
    }
    (args.output / SCORES).write_text(json.dumps(record, indent=2) + "\n")
    scores = record["scores"]
    lines = [
        "| edit type | accuracy | change | preservation | wrong instruction's colour appears |",
        "|---|---|---|---|---|",
    ]
    for kind, metrics in [*scores["edit_type"].items(), ("all", scores["all"])]:
        cells = [
            f"{metrics[k][0]:.0%} [{metrics[k][1]:.0%}, {metrics[k][2]:.0%}]" if k in metrics else "-" for k in METRICS
        ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    size = sum(f.stat().st_size for f in args.output.rglob("*") if f.is_file())
    card = f"""---
library_name: diffusers
license: apache-2.0
pipeline_tag: image-to-image
tags: [edit-handbook, instruct-pix2pix, synthetic]
---

# tutorial-editor

The tutorial-scale SuperEdit editor: an InstructPix2Pix pipeline (a 2-block VAE fitted to the synthetic scenes, a
2-layer CLIP text encoder trained to name the edit's attributes, with the real CLIP tokenizer, a ~1M-parameter UNet
with 8 input channels, DDIM predicting the clean latent) trained on CPU on 32 px synthetic edits
(recolour, move, resize, add, remove). Why each part is as it is: `edit_handbook/superedit/tutorial.py`.

## How it was made

    {record["command"]}
    python scripts/ship_tutorial_editor.py --checkpoint <output_dir> --output {args.output}

Training: {timing["train_cpu_seconds"]:.0f} CPU-seconds ({timing["train_wall_seconds"]:.0f} s wall) for the UNet,
plus the VAE and text-encoder fits. Stored as fp16 safetensors ({size / 1e6:.1f} MB in all); load in fp32:

    import edit_handbook.fixtures
    from edit_handbook.models.loading import load_instruct_pix2pix
    pipeline = load_instruct_pix2pix(edit_handbook.fixtures.tutorial_editor_checkpoint())  # tiny:tutorial-editor

## Scores of these fp16 weights on fresh pairs

{scores["pairs_per_type"]} pairs per edit type of pair seed {scores["pair_seed"]} (never trained on), 32 px,
{scores["sampling"]["steps"]} DDIM steps, guidance {scores["sampling"]["guidance_scale"]} (text) and
{scores["sampling"]["image_guidance_scale"]} (image), sampling seed {scores["sampling"]["seed"]}; pixel-exact
scoring (`edit-handbook evaluate synthetic-editing`): correct = the named change, read from the pixels, and the rest
preserved. Brackets: 95% bootstrap intervals. The last column: recolours edited under a wrong instruction
(same object, another colour); how often that wrong colour is what appears.

{chr(10).join(lines)}

Copying the source scores 0% on every type (nothing changes); the recipe's untrained UNet scores about 0 too
(`tests/integration/test_tutorial_editor_learning.py` checks both on fresh recolour pairs).
"""
    (args.output / "README.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
