"""DPO end to end: TRL `DPOTrainer` defaults vs this project's HAE-DPO, unshared and prefix-shared, in one run.

    # the issue's GPU benchmark: Qwen3-VL-2B size, two 512 px images, batch 8, 1 and 3 epochs
    python benchmarks/bench_dpo.py --size 2b --image-size 512 --batch-size 8 --pairs 256 --epochs 3 --device cuda
    # the CPU plumbing setting (tiny model, small vocabulary, 16 pairs, 3 epochs, no workers), under 2 minutes
    python benchmarks/bench_dpo.py --tiny

Three arms train the same randomly initialised model on the same synthetic preference pairs for `--epochs`
epochs, one after the other in this process, each timed end to end from its first forward pass: model loading and
trainer construction are not timed, everything after is (data loading, image processing, every step).
- "TRL": `DPOTrainer` with its default settings (a live reference model run on every step of every epoch);
- "ours, unshared": `HAEDPOTrainer` with the training fields of `--recipe` (default: the Qwen3-VL-2B full HAE
  recipe; full HAE, sampler with refresh) after its stored reference pass, which is timed as part of the run;
  `prefix_sharing: false`, so both answers of a pair carry their own copy of the prompt, as TRL's do;
- "ours, shared": the same with `prefix_sharing: true` in the reference pass and in training (each pair's
  prompt and images run once, `docs/prefix_sharing.md`).
The end-to-end time for k epochs is the time to the end of epoch k (plus the reference pass for ours); the
steady rate is pairs/s over the epochs after the first. With `--epochs` below 3 (a short GPU lend) the 3-epoch
ratios are also given, marked "extrapolated": each arm's last time plus the missing epochs at its last epoch's
duration. Every arm loads data with `--workers` dataloader workers
(default 4, as the anchor; `--tiny` uses 0: on two shared cores workers only compete with training). On GPU the
clock is the wall clock; on CPU without workers the ratios use this process's CPU time (one thread: what the
work costs, whatever else shares the cores), and the wall-clock ratios are printed too. The last line prints
every ratio; `--output` also writes the results as JSON (after every arm). The sampler's overhead is its per-epoch draw plus its per-step bookkeeping, over the
measured step time.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

from edit_handbook.data.synthetic import generate_dataset, preference_pairs
from edit_handbook.dpo import make_parser as make_dpo_parser
from edit_handbook.editcaption.hae_trainer import HAEDPOTrainer
from edit_handbook.editcaption.preference_data import to_preference_examples
from edit_handbook.editcaption.prefix_sharing import PACKED_BLOCKS, PAD, SharedPrefixPreferenceCollator
from edit_handbook.editcaption.reference_pass import attach_reference, run_reference_pass
from edit_handbook.editcaption.sampler import HardExampleSampler, PairScores


sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sft import KNOWN_ARCHITECTURES, SIZES, build, free, peak_gib  # noqa: E402  (same models as SFT)


ROOT = Path(__file__).resolve().parents[1]
ARMS = ("TRL", "ours, unshared", "ours, shared")


def now() -> np.ndarray:
    """(wall seconds, this process's CPU seconds), CUDA synchronised. On a shared CPU machine the CPU time of a
    one-thread run (no dataloader workers) is what the work costs; the wall time also counts waiting for cores."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return np.array([time.perf_counter(), time.process_time()])


class EpochClock(TrainerCallback):
    """(wall, CPU) seconds from the start of training to the end of each epoch."""

    def __init__(self):
        self.start, self.epoch_ends = None, []

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = now()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epoch_ends.append(now() - self.start)


def defaults_config(common: dict, on_cpu: bool) -> DPOConfig:
    """TRL's defaults; only what a vision run needs (max_length: None) and the run length."""
    return DPOConfig(**common, max_length=None, **({"use_cpu": True, "bf16": False} if on_cpu else {}))


def recipe_configs(recipe: Path, common: dict, on_cpu: bool):
    overrides = [f"--{key}={value}" for key, value in common.items()]
    if on_cpu:
        overrides += ["--use_cpu=true", "--bf16=false"]
    _, margin, sampler, reference, training_args, _ = make_dpo_parser().parse_args_and_config(
        ["--config", str(recipe), *overrides]
    )
    return margin, sampler, reference, training_args


def _result(label, clock, reference, pairs, device) -> dict:
    ends = [reference + end for end in clock.epoch_ends]  # end to end, reference pass included
    result = {"label": label, "peak_gpu_gib": peak_gib(device)}
    for index, clock_name in enumerate(("wall", "cpu")):
        times = [float(end[index]) for end in ends]
        steady = (len(times) - 1) * pairs / (times[-1] - times[0]) if len(times) > 1 else pairs / times[0]
        result |= {
            f"reference_pass_{clock_name}_s": float(reference[index]),
            f"epoch_end_{clock_name}_s": times,
            f"steady_{clock_name}_pairs_per_s": steady,
        }
    return result


def run_trl(args, size, image_size, device, examples, scratch) -> dict:
    model, processor = build(size, image_size, device)
    model.save_pretrained(Path(scratch) / "policy")  # DPOTrainer builds its reference from the saved path
    model.config._name_or_path = str(Path(scratch) / "policy")
    clock = EpochClock()
    columns = ["images", "prompt", "chosen", "rejected"]
    trainer = DPOTrainer(
        model, args=args, train_dataset=examples.select_columns(columns), processing_class=processor, callbacks=[clock]
    )
    trainer.train()
    result = _result(ARMS[0], clock, np.zeros(2), len(examples), device)
    del trainer, model
    free(device)
    return result


def run_ours(configs, sharing: bool, size, image_size, device, examples, scratch) -> dict:
    margin, sampler, reference, args = configs
    model, processor = build(size, image_size, device)
    model.to(device)
    start = now()
    rows = run_reference_pass(
        model,
        processor,
        examples,
        Path(scratch) / f"reference-{sharing}",
        fingerprint="bench",
        batch_size=reference.reference_batch_size,
        max_length=args.max_length,
        prefix_sharing=sharing,
    )
    reference_time = now() - start
    clock = EpochClock()
    trainer = HAEDPOTrainer(
        model,
        args,
        attach_reference(examples, rows),
        processor,
        callbacks=[clock],
        margin=margin,
        sampler=sampler,
        reference_check_tolerance=reference.reference_check_tolerance,
        prefix_sharing=sharing,
    )
    trainer.train()
    result = _result(ARMS[2 if sharing else 1], clock, reference_time, len(examples), device)
    del trainer, model
    free(device)
    return result


def token_counts(size, image_size, examples, batch_size) -> dict:
    """Tokens one batch carries through the language model, unshared vs packed, and the prompt's share."""
    _, processor = build(size, image_size, "cpu")
    rows = [examples[i] for i in range(min(batch_size, len(examples)))]
    unshared = DataCollatorForVisionPreference(processor=processor)(copy.deepcopy(rows))
    shared = SharedPrefixPreferenceCollator(processor)(copy.deepcopy(rows))
    real = int(unshared["attention_mask"].sum())
    answers = int(unshared["completion_mask"].sum())
    return {
        "unshared_tokens": real,
        "prompt_share": 1 - answers / real,
        "packed_tokens": int((shared[PACKED_BLOCKS] != PAD).sum()),
        "unshared_images": int(unshared["image_grid_thw"].size(0)),
        "shared_images": int(shared["image_grid_thw"].size(0)),
    }


def sampler_overhead(num_pairs: int, batch_size: int, step_seconds: float, repeats: int = 5) -> float:
    """Per-epoch draw + per-step observe, as a share of the training time of that epoch."""
    rng = np.random.default_rng(0)
    scores = PairScores(
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


GOAL_EPOCHS = 3  # the goal's second figure: 3 epochs


def end_times(result: dict, clock: str) -> dict[str, float]:
    """End-to-end seconds after 1 and after each measured epoch count; with fewer than 3 epochs measured, also
    "3 epochs (extrapolated)": the last time plus the missing epochs at the last epoch's duration."""
    ends = result[f"epoch_end_{clock}_s"]
    times = {f"{k} epoch{'s' * (k > 1)}": ends[k - 1] for k in sorted({1, len(ends)})}
    if len(ends) < GOAL_EPOCHS:
        last_epoch = ends[-1] - ends[-2] if len(ends) > 1 else ends[0] - result[f"reference_pass_{clock}_s"]
        times[f"{GOAL_EPOCHS} epochs (extrapolated)"] = ends[-1] + (GOAL_EPOCHS - len(ends)) * last_epoch
    return times


def end_to_end_ratios(results: dict, clock: str) -> dict:
    """Speed-ups end to end (baseline time / our time: higher is faster)."""
    trl, unshared, shared = (end_times(results[label], clock) for label in ARMS)
    ratios = {}
    for name, ours, base in (("shared/TRL", shared, trl), ("unshared/TRL", unshared, trl), ("shared/unshared", shared, unshared)):  # fmt: skip
        for span in ours:
            ratios[f"{name}, {span}"] = base[span] / ours[span]
    return ratios


def ratio_line(ratios: dict, goals: dict, clock: str, device: str) -> str:
    """Every ratio on one line, the goal next to the ones it applies to."""
    parts = [f"{name} = {value:.2f}" + (f" (goal >= {goals[name]})" if name in goals else "") for name, value in ratios.items()]  # fmt: skip
    return f"RATIOS dpo ({clock} time, end to end): " + "  ".join(parts) + f"  [{device}]"


TINY = ["--size", "tiny", "--image-size", "128", "--batch-size", "4", "--pairs", "16", "--epochs", "3", "--workers", "0", "--device", "cpu"]  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU plumbing setting: " + " ".join(TINY))
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=256, help="pairs per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="train this many epochs; 1 and this are reported")
    parser.add_argument("--workers", type=int, default=4, help="dataloader workers of every arm (the anchor's 4)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes/editcaption/qwen3-vl-2b/dpo/config_full.yaml")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.tiny:  # the flags given after the preset override it
        args = parser.parse_args([*TINY, *argv])
    assert args.size == "tiny" or SIZES[args.size] in KNOWN_ARCHITECTURES and args.epochs >= 1
    on_cpu = args.device == "cpu"
    clock = "cpu" if on_cpu and args.workers == 0 else "wall"  # CPU time: robust to other jobs on shared cores
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x {torch.get_num_threads()} threads"

    rows = preference_pairs(generate_dataset(args.pairs, seed=0, image_size=args.image_size))
    examples = to_preference_examples(rows.select(range(min(args.pairs, len(rows)))))
    tokens = token_counts(args.size, args.image_size, examples, args.batch_size)
    summary = {"benchmark": "dpo", "device": device, "args": {k: str(v) for k, v in vars(args).items()},
               "pairs": len(examples), "tokens": tokens, "clock": clock, "results": [], "ratios": {},
               "goals": {}}  # fmt: skip

    def save(result: dict) -> None:
        summary["results"].append(result)
        peak = "n/a (CPU)" if result["peak_gpu_gib"] is None else f"{result['peak_gpu_gib']:.1f} GiB"
        for name in ("wall", "cpu") if on_cpu else ("wall",):
            ends = ", ".join(f"{t:.1f}" for t in result[f"epoch_end_{name}_s"])
            print(
                f"  {result['label']:<15} {name:>4}: reference pass {result[f'reference_pass_{name}_s']:5.1f} s, end "
                f"of each epoch [{ends}] s, steady {result[f'steady_{name}_pairs_per_s']:.2f} pairs/s, peak GPU {peak}",
                flush=True,
            )
        if args.output:
            args.output.write_text(json.dumps(summary, indent=2))

    print(
        f"DPO end to end, {args.size}, 2 x {args.image_size} px, batch {args.batch_size}, {len(examples)} pairs x "
        f"{args.epochs} epochs, {args.workers} dataloader workers, {device}\n"
        f"  one batch: {tokens['unshared_tokens']} tokens unshared ({100 * tokens['prompt_share']:.0f}% prompt, "
        f"{tokens['unshared_images']} images) -> {tokens['packed_tokens']} packed ({tokens['shared_images']} images)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        common = {
            "output_dir": scratch,
            "num_train_epochs": args.epochs,
            "per_device_train_batch_size": args.batch_size,
            "gradient_accumulation_steps": 1,
            "dataloader_num_workers": args.workers,
            "dataloader_persistent_workers": args.workers > 0,
            "save_strategy": "no",
            "eval_strategy": "no",
            "report_to": "none",
            "logging_steps": 1000,
            "disable_tqdm": True,
            "seed": 0,
        }
        save(run_trl(defaults_config(common, on_cpu), args.size, args.image_size, args.device, examples, scratch))
        for sharing in (False, True):
            configs = recipe_configs(args.recipe, common, on_cpu)
            save(run_ours(configs, sharing, args.size, args.image_size, args.device, examples, scratch))
    results = {result["label"]: result for result in summary["results"]}
    step_s = args.batch_size / results[ARMS[2]][f"steady_{clock}_pairs_per_s"]
    summary["sampler_overhead"] = sampler_overhead(10_000, args.batch_size, step_s)
    print(f"  sampler overhead: {100 * summary['sampler_overhead']:.3f}% of step time (10,000 pairs)")
    summary["ratios"] = end_to_end_ratios(results, clock)
    goals = {name: 2.0 for name in summary["ratios"] if name.startswith("shared/TRL") and "2 epochs" not in name}
    summary["goals"] = goals  # the goal: shared >= 2x TRL after 1 and after 3 epochs
    if clock != "wall":
        summary["ratios_wall"] = end_to_end_ratios(results, "wall")
        print("  " + ratio_line(summary["ratios_wall"], goals, "wall", device))
    if args.output:
        args.output.write_text(json.dumps(summary, indent=2))
    print(ratio_line(summary["ratios"], goals, clock, device), flush=True)
    return summary


if __name__ == "__main__":
    main()
