"""SFT throughput: TRL `SFTTrainer` with its default settings vs this project's recipe settings, side by side.

Both runs train the same randomly initialised model (a real architecture, no weights needed) on the same
synthetic edit pairs (two images + instruction per example) for the same number of steps in one process,
and report samples/s over the steps after warm-up, then the ratio recipe / defaults.

    # the issue's GPU benchmark: Qwen3-VL-2B size, two 512 px images, batch 8
    python benchmarks/bench_sft.py --size 2b --image-size 512 --batch-size 8 --device cuda
    # the same script at CPU scale (tiny model, small vocabulary)
    python benchmarks/bench_sft.py --size tiny --image-size 64 --batch-size 8 --device cpu

"Recipe settings" are the training fields of `--recipe` (default: the Qwen3-VL-2B full recipe), with only
the run length, batch size, output, logging and saving overridden; on CPU, precision is forced to fp32 for
both sides (bf16 autocast on CPU measures nothing useful).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, TrainerCallback
from trl import SFTConfig, SFTTrainer

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.editcaption.dry_run import KNOWN_ARCHITECTURES, model_config, reference_processor
from edit_handbook.editcaption.modeling import SMOKE_MODEL, resolve_model_path
from edit_handbook.editcaption.sft_data import to_sft_examples
from edit_handbook.models import load_vlm
from edit_handbook.sft import SFTParser


ROOT = Path(__file__).resolve().parents[1]
SIZES = {"2b": "Qwen/Qwen3-VL-2B-Instruct", "8b": "Qwen/Qwen3-VL-8B-Instruct", "tiny": SMOKE_MODEL}


class Throughput(TrainerCallback):
    """Wall time of the steps after `warmup` (the first steps pay for allocation, compilation, worker start)."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def build(size: str, image_size: int, device: str):
    """(model, processor) with random weights: the real config for 2b/8b, the smoke model for tiny."""
    if size == "tiny":
        return load_vlm(resolve_model_path(SMOKE_MODEL), dtype=torch.float32)
    config, _ = model_config(SIZES[size])
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    pixels = argparse.Namespace(min_pixels=image_size * image_size, max_pixels=image_size * image_size)
    return model, reference_processor(SIZES[size], config, pixels)


def defaults_config(common: dict, on_cpu: bool) -> SFTConfig:
    """TRL's defaults; only what a vision run cannot do without (max_length: None) and the run length."""
    return SFTConfig(**common, max_length=None, **({"use_cpu": True, "bf16": False} if on_cpu else {}))


def recipe_config(recipe: Path, common: dict, on_cpu: bool) -> SFTConfig:
    overrides = [f"--{key}={value}" for key, value in common.items()]
    if on_cpu:
        overrides += ["--use_cpu=true", "--bf16=false"]
    _, training_args, _ = SFTParser().parse_args_and_config(["--config", str(recipe), *overrides])
    return training_args


def run(label: str, args: SFTConfig, size: str, image_size: int, device: str, examples, warmup: int) -> dict:
    model, processor = build(size, image_size, device)
    timer = Throughput(warmup)
    trainer = SFTTrainer(model=model, args=args, train_dataset=examples, processing_class=processor, callbacks=[timer])
    trainer.train()
    steps = args.max_steps - warmup
    samples = steps * args.per_device_train_batch_size * args.gradient_accumulation_steps * trainer.args.world_size
    result = {
        "label": label,
        "samples_per_s": samples / (timer.end - timer.start),
        "gradient_checkpointing": args.gradient_checkpointing,
        "bf16": args.bf16,
        "dataloader_num_workers": args.dataloader_num_workers,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else None,
    }
    del trainer, model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes/editcaption/qwen3-vl-2b/sft/config_full.yaml")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    assert args.size == "tiny" or SIZES[args.size] in KNOWN_ARCHITECTURES

    pairs = generate_dataset(max(64, args.batch_size * 4), seed=0, image_size=args.image_size)
    examples = to_sft_examples(pairs)
    on_cpu = args.device == "cpu"
    with tempfile.TemporaryDirectory() as scratch:
        common = {
            "output_dir": scratch,
            "max_steps": args.steps,
            "per_device_train_batch_size": args.batch_size,
            "gradient_accumulation_steps": 1,
            "save_strategy": "no",
            "eval_strategy": "no",
            "report_to": "none",
            "logging_steps": args.steps,
            "disable_tqdm": True,
            "seed": 0,
        }
        results = [
            run(
                "TRL defaults",
                defaults_config(common, on_cpu),
                args.size,
                args.image_size,
                args.device,
                examples,
                args.warmup,
            ),
            run(
                "recipe",
                recipe_config(args.recipe, common, on_cpu),
                args.size,
                args.image_size,
                args.device,
                examples,
                args.warmup,
            ),
        ]
    ratio = results[1]["samples_per_s"] / results[0]["samples_per_s"]
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x {torch.get_num_threads()} threads"
    print(
        f"\nSFT throughput, {args.size}, 2 x {args.image_size} px, batch {args.batch_size}, {args.steps} steps "
        f"({args.warmup} warm-up), {device}"
    )
    for result in results:
        print(
            f"  {result['label']:<13} {result['samples_per_s']:8.2f} samples/s  "
            f"(gradient checkpointing {result['gradient_checkpointing']}, bf16 {result['bf16']}, "
            f"dataloader workers {result['dataloader_num_workers']})"
        )
    print(f"  ratio recipe / TRL defaults: {ratio:.2f}x")
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"recipe": str(args.recipe), "output": None},
                    "device": device,
                    "results": results,
                    "ratio": ratio,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
