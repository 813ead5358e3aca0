"""DPO throughput: TRL `DPOTrainer` defaults vs this project's HAE-DPO recipe, side by side in one process.

    # the issue's GPU benchmark: Qwen3-VL-2B size, two 512 px images, batch 8
    python benchmarks/bench_dpo.py --size 2b --image-size 512 --batch-size 8 --device cuda
    # the same script at CPU scale (tiny model, small vocabulary)
    python benchmarks/bench_dpo.py --size tiny --image-size 64 --batch-size 8 --device cpu

Both sides train the same randomly initialised model on the same synthetic preference pairs for the same
number of steps and report pairs/s after warm-up:
- "TRL defaults": `DPOTrainer` with its default settings (a live reference model run on every step);
- "recipe": `HAEDPOTrainer` with the training fields of `--recipe` (default: the Qwen3-VL-2B full HAE recipe),
  full HAE (margins, sampler with refresh) and the stored reference, so no reference forward per step.
The reference pass is timed on its own (pairs/s); end-to-end times for one and three epochs over
`--epoch-pairs` pairs are the measured rates combined: TRL = epochs x pairs / rate; recipe = reference pass +
epochs x pairs / rate. Precomputing moves the reference forward out of the loop: for one epoch it is the same
work done once up front, so the end-to-end gain there comes only from the other settings; from the second
epoch on it is saved. The sampler's overhead is its per-epoch draw plus its per-step bookkeeping, over the
measured step time.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from trl import DPOConfig, DPOTrainer

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.dpo import DPOParser
from edit_handbook.editcaption.hae_trainer import HAEDPOTrainer
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.reference_pass import attach_reference, run_reference_pass
from edit_handbook.editcaption.sampler import HardExampleSampler, PairScores


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sft import KNOWN_ARCHITECTURES, SIZES, Throughput, build  # noqa: E402  (same models and timer as SFT)


ROOT = Path(__file__).resolve().parents[1]


def defaults_config(common: dict, on_cpu: bool) -> DPOConfig:
    """TRL's defaults; only what a vision run needs (max_length: None) and the run length."""
    return DPOConfig(**common, max_length=None, **({"use_cpu": True, "bf16": False} if on_cpu else {}))


def recipe_configs(recipe: Path, common: dict, on_cpu: bool):
    overrides = [f"--{key}={value}" for key, value in common.items()]
    if on_cpu:
        overrides += ["--use_cpu=true", "--bf16=false"]
    _, margin, sampler, _, training_args, _ = DPOParser().parse_args_and_config(["--config", str(recipe), *overrides])
    return margin, sampler, training_args


def _pairs_per_s(args, timer, warmup) -> float:
    pairs = (args.max_steps - warmup) * args.per_device_train_batch_size * args.gradient_accumulation_steps
    return pairs / (timer.end - timer.start)


def _free(device):
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device):
    return torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else None


def run_defaults(args, size, image_size, device, examples, warmup, scratch) -> dict:
    model, processor = build(size, image_size, device)
    model.save_pretrained(Path(scratch) / "policy")  # DPOTrainer builds its reference from the saved path
    model.config._name_or_path = str(Path(scratch) / "policy")
    timer = Throughput(warmup)
    columns = ["images", "prompt", "chosen", "rejected"]
    trainer = DPOTrainer(
        model, args=args, train_dataset=examples.select_columns(columns), processing_class=processor, callbacks=[timer]
    )
    trainer.train()
    result = {
        "label": "TRL defaults",
        "pairs_per_s": _pairs_per_s(args, timer, warmup),
        "peak_gpu_gib": _peak(device),
        "gradient_checkpointing": args.gradient_checkpointing,
        "reference_model": "live, every step",
    }
    del trainer, model
    _free(device)
    return result


def run_recipe(configs, size, image_size, device, examples, warmup, scratch) -> tuple[dict, float]:
    margin, sampler, args = configs
    model, processor = build(size, image_size, device)
    model.to(device)
    start = time.perf_counter()
    rows = run_reference_pass(
        model,
        processor,
        examples,
        Path(scratch) / "reference",
        fingerprint="bench",
        batch_size=args.per_device_train_batch_size * 2,
    )
    reference_pairs_per_s = len(examples) / (time.perf_counter() - start)
    timer = Throughput(warmup)
    trainer = HAEDPOTrainer(
        model, args, attach_reference(examples, rows), processor, callbacks=[timer], margin=margin, sampler=sampler
    )
    trainer.train()
    result = {
        "label": "recipe (HAE)",
        "pairs_per_s": _pairs_per_s(args, timer, warmup),
        "peak_gpu_gib": _peak(device),
        "gradient_checkpointing": args.gradient_checkpointing,
        "reference_model": "none (stored)",
    }
    del trainer, model
    _free(device)
    return result, reference_pairs_per_s


def sampler_overhead(num_pairs: int, batch_size: int, step_seconds: float, repeats: int = 5) -> float:
    """Per-epoch draw + per-step observe, as a share of the training time of that epoch."""
    rng = np.random.default_rng(0)
    scores = PairScores(
        rng.random(num_pairs),
        rng.random(num_pairs),
        beta=0.1,
        temperature=1.0,
        uniform_mix=0.2,
        eps=0.05,
        refresh=True,
    )
    sampler = HardExampleSampler(scores, seed=0)
    steps = -(-num_pairs // batch_size)
    start = time.perf_counter()
    for epoch in range(1, repeats + 1):
        sampler.global_order(epoch)
        for _ in range(steps):
            scores.observe(rng.integers(0, num_pairs, batch_size), rng.random(batch_size))
    per_epoch = (time.perf_counter() - start) / repeats
    return per_epoch / (steps * step_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--epoch-pairs", type=int, default=10_000, help="dataset size for the end-to-end figures")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes/editcaption/qwen3-vl-2b/dpo/config_full.yaml")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    assert args.size == "tiny" or SIZES[args.size] in KNOWN_ARCHITECTURES

    pairs = generate_dataset(max(16, args.batch_size * 2), seed=0, image_size=args.image_size)
    examples = to_preference_examples(preference_pairs(pairs))
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
        if on_cpu:  # worker processes only compete with training for the same two cores
            common |= {"dataloader_num_workers": 0, "dataloader_persistent_workers": False}
        defaults = run_defaults(
            defaults_config(common, on_cpu), args.size, args.image_size, args.device, examples, args.warmup, scratch
        )
        recipe, reference_rate = run_recipe(
            recipe_configs(args.recipe, common, on_cpu),
            args.size,
            args.image_size,
            args.device,
            examples,
            args.warmup,
            scratch,
        )
    ratio = recipe["pairs_per_s"] / defaults["pairs_per_s"]
    n = args.epoch_pairs
    end_to_end = {
        epochs: {
            "TRL defaults s": epochs * n / defaults["pairs_per_s"],
            "recipe s": n / reference_rate + epochs * n / recipe["pairs_per_s"],
        }
        for epochs in (1, 3)
    }
    overhead = sampler_overhead(n, args.batch_size, args.batch_size / recipe["pairs_per_s"])
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x {torch.get_num_threads()} threads"
    print(
        f"\nDPO throughput, {args.size}, 2 x {args.image_size} px, batch {args.batch_size}, {args.steps} steps "
        f"({args.warmup} warm-up), {device}"
    )
    for result in (defaults, recipe):
        print(
            f"  {result['label']:<13} {result['pairs_per_s']:8.2f} pairs/s  (reference model {result['reference_model']}, "
            f"gradient checkpointing {result['gradient_checkpointing']}, peak GPU {result['peak_gpu_gib']})"
        )
    print(f"  ratio recipe / TRL defaults (training steps): {ratio:.2f}x")
    print(f"  reference pass: {reference_rate:.2f} pairs/s")
    for epochs, times in end_to_end.items():
        print(
            f"  end to end, {epochs} epoch(s) of {n} pairs: TRL defaults {times['TRL defaults s']:.0f} s, recipe "
            f"{times['recipe s']:.0f} s incl. reference pass -> {times['TRL defaults s'] / times['recipe s']:.2f}x"
        )
    print(f"  sampler overhead: {100 * overhead:.3f}% of step time ({n} pairs)")
    if args.output:
        args.output.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "device": device,
                    "results": [defaults, recipe],
                    "ratio": ratio,
                    "reference_pairs_per_s": reference_rate,
                    "end_to_end": end_to_end,
                    "sampler_overhead": overhead,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
