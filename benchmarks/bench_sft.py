"""SFT throughput: TRL `SFTTrainer` defaults, TRL without gradient checkpointing, a bare bf16 loop and this
project's recipe settings, side by side in one process (random weights of a real architecture).

    # the issue's GPU benchmark: Qwen3-VL-2B size, two 512 px images, batch 8
    python benchmarks/bench_sft.py --size 2b --image-size 512 --batch-size 8 --device cuda --recipe-liger
    # the CPU plumbing setting (tiny model, small vocabulary), well under 2 minutes
    python benchmarks/bench_sft.py --tiny

Every arm trains the same synthetic edit pairs (two images + instruction per example) for the same steps and
reports samples/s over the steps after warm-up, and its peak GPU memory. Fairness, as the anchors were
measured: every TRL arm (and the recipe) loads data with `--workers` (default 4; `--tiny` uses 0, as on two
shared cores workers only compete with training) dataloader workers, and the
data holds at least 256 examples and more than (warm-up + steps) x batch, so no epoch boundary (worker
restart, reshuffle) falls inside the timed window. The bare loop runs the batches TRL's collator made,
collated before timing, with fused AdamW and no gradient checkpointing: the ceiling for the model alone.
"Recipe" is the training fields of `--recipe` (default: the Qwen3-VL-2B full recipe), with only the run length,
batch size, workers, output, logging and saving overridden, plus `--recipe-liger` / `--recipe-compile`
(`use_liger_kernel` / `torch_compile`, each falling back with its reason where it cannot run). On CPU,
precision is fp32 for every arm (bf16 autocast on CPU measures nothing useful).
The last line printed holds every ratio; `--output` also writes the results as JSON (after every arm).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, TrainerCallback
from trl import SFTConfig, SFTTrainer

from edit_handbook.data.synthetic import generate_dataset
from edit_handbook.editcaption.dry_run import KNOWN_ARCHITECTURES, model_config, reference_processor
from edit_handbook.editcaption.sft_data import to_sft_examples
from edit_handbook.editcaption.smoke_model import SMOKE_MODEL
from edit_handbook.models import load_vlm
from edit_handbook.models.acceleration import apply_liger_kernels, resolve_trainer_speedups
from edit_handbook.models.registry import resolve_model
from edit_handbook.sft import make_parser as make_sft_parser


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
        return load_vlm(resolve_model(SMOKE_MODEL), dtype=torch.float32)
    config, _ = model_config(SIZES[size])
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    pixels = argparse.Namespace(min_pixels=image_size * image_size, max_pixels=image_size * image_size)
    return model, reference_processor(SIZES[size], config, pixels)


def defaults_config(common: dict, on_cpu: bool, **changes) -> SFTConfig:
    """TRL's defaults; only what a vision run cannot do without (max_length: None), the run length, workers."""
    return SFTConfig(**common, max_length=None, **changes, **({"use_cpu": True, "bf16": False} if on_cpu else {}))


def recipe_config(recipe: Path, common: dict, on_cpu: bool, liger: bool, compile_: bool) -> SFTConfig:
    overrides = [f"--{key}={value}" for key, value in common.items()]
    if on_cpu:
        overrides += ["--use_cpu=true", "--bf16=false"]
    overrides += [f"--use_liger_kernel={liger}"] if liger else []
    overrides += ["--torch_compile=true"] if compile_ else []
    _, training_args, _ = make_sft_parser().parse_args_and_config(["--config", str(recipe), *overrides])
    return training_args


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else None


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def run(label: str, args: SFTConfig, size: str, image_size: int, device: str, examples, warmup: int) -> dict:
    model, processor = build(size, image_size, device)
    notes = resolve_trainer_speedups(args)
    notes += [line for line in [apply_liger_kernels(model, args)] if line]
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
        "use_liger_kernel": args.use_liger_kernel,
        "torch_compile": args.torch_compile,
        "notes": notes,
        "peak_gpu_gib": peak_gib(device),
    }
    batches = None
    if label == "TRL defaults":  # the bare loop trains on exactly these collated batches
        loader = torch.utils.data.DataLoader(
            trainer.train_dataset, batch_size=args.per_device_train_batch_size, collate_fn=trainer.data_collator
        )
        batches = [batch for _, batch in zip(range(args.max_steps), loader)]
    del trainer, model
    free(device)
    return result, batches


def run_bare(batches: list, size: str, image_size: int, device: str, warmup: int) -> dict:
    """model(**batch) -> loss, backward, fused AdamW: no Trainer, no checkpointing, no data loading."""
    model, _ = build(size, image_size, device)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device == "cuda")
    batches = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()} for batch in batches]
    start = None
    for step, batch in enumerate(batches):
        if step == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    samples = sum(len(batch["input_ids"]) for batch in batches[warmup:])
    result = {
        "label": "bare loop",
        "samples_per_s": samples / (time.perf_counter() - start),
        "gradient_checkpointing": False,
        "bf16": device == "cuda",
        "dataloader_num_workers": 0,
        "peak_gpu_gib": peak_gib(device),
    }
    del model, optimizer
    free(device)
    return result


TINY = ["--size", "tiny", "--image-size", "64", "--batch-size", "4", "--steps", "5", "--warmup", "2", "--workers", "0", "--device", "cpu"]  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU plumbing setting: " + " ".join(TINY))
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4, help="dataloader workers of every Trainer arm")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes/editcaption/qwen3-vl-2b/sft/config_full.yaml")
    parser.add_argument("--recipe-liger", action="store_true", help="recipe arm: use_liger_kernel=true")
    parser.add_argument("--recipe-compile", action="store_true", help="recipe arm: torch_compile=true")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.tiny:  # the preset first: flags given after --tiny override it
        args = parser.parse_args([*TINY, *argv])
    assert args.size == "tiny" or SIZES[args.size] in KNOWN_ARCHITECTURES

    examples_needed = max(256, (args.steps + 1) * args.batch_size)
    pairs = generate_dataset(examples_needed, seed=0, image_size=args.image_size)
    examples = to_sft_examples(pairs)
    on_cpu = args.device == "cpu"
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x {torch.get_num_threads()} threads"
    summary = {"benchmark": "sft", "device": device, "args": {k: str(v) for k, v in vars(args).items()},
               "examples": len(examples), "results": [], "ratios": {},
               "goals": {"recipe/TRL defaults": 1.35, "recipe/TRL no checkpointing": 1.15}}  # fmt: skip

    def save(result: dict) -> None:
        summary["results"].append(result)
        peak = "n/a (CPU)" if result["peak_gpu_gib"] is None else f"{result['peak_gpu_gib']:.1f} GiB"
        print(f"  {result['label']:<30} {result['samples_per_s']:8.2f} samples/s  peak GPU memory {peak}", flush=True)
        if args.output:
            args.output.write_text(json.dumps(summary, indent=2))

    print(f"SFT throughput, {args.size}, 2 x {args.image_size} px, batch {args.batch_size}, {args.steps} steps "
          f"({args.warmup} warm-up), {len(examples)} examples, {args.workers} workers, {device}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        common = {
            "output_dir": scratch,
            "max_steps": args.steps,
            "per_device_train_batch_size": args.batch_size,
            "gradient_accumulation_steps": 1,
            "dataloader_num_workers": args.workers,
            "dataloader_persistent_workers": args.workers > 0,
            "save_strategy": "no",
            "eval_strategy": "no",
            "report_to": "none",
            "logging_steps": args.steps,
            "disable_tqdm": True,
            "seed": 0,
        }
        train = (args.size, args.image_size, args.device, examples, args.warmup)
        defaults, batches = run("TRL defaults", defaults_config(common, on_cpu), *train)
        save(defaults)
        no_ckpt, _ = run("TRL, no gradient checkpointing", defaults_config(common, on_cpu, gradient_checkpointing=False), *train)  # fmt: skip
        save(no_ckpt)
        save(run_bare(batches, args.size, args.image_size, args.device, args.warmup))
        del batches
        recipe_args = recipe_config(args.recipe, common, on_cpu, args.recipe_liger, args.recipe_compile)
        recipe, _ = run("recipe", recipe_args, *train)
        save(recipe)
    rate = {result["label"]: result["samples_per_s"] for result in summary["results"]}
    ratios = {
        "recipe/TRL defaults": rate["recipe"] / rate["TRL defaults"],
        "recipe/TRL no checkpointing": rate["recipe"] / rate["TRL, no gradient checkpointing"],
        "bare/TRL defaults": rate["bare loop"] / rate["TRL defaults"],
        "TRL no checkpointing/TRL defaults": rate["TRL, no gradient checkpointing"] / rate["TRL defaults"],
    }
    summary["ratios"] = ratios
    if args.output:
        args.output.write_text(json.dumps(summary, indent=2))
    print(
        f"RATIOS sft: recipe/TRL defaults = {ratios['recipe/TRL defaults']:.2f} (goal >= 1.35)  "
        f"recipe/TRL no-ckpt = {ratios['recipe/TRL no checkpointing']:.2f} (goal >= 1.15)  "
        f"bare/TRL defaults = {ratios['bare/TRL defaults']:.2f}  "
        f"TRL no-ckpt/defaults = {ratios['TRL no checkpointing/TRL defaults']:.2f}  [{device}]",
        flush=True,
    )
    return summary


if __name__ == "__main__":
    main()
