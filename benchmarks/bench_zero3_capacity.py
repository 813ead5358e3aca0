"""ZeRO-3 on one GPU: the smoke recipes under ZeRO-3, then the largest Qwen3-VL that full fine-tunes with offload.

    # on a GPU machine (deepspeed installed: `pip install -e ".[deepspeed]"`, or benchmarks/install_gpu_wheels.sh)
    python benchmarks/bench_zero3_capacity.py --time-budget 1500 --output zero3.json
    # anywhere (no GPU): the sizes, their memory needs on this host, and every command the GPU run would launch
    python benchmarks/bench_zero3_capacity.py --plan

Part 1 runs the SFT, DPO (from that SFT output) and SuperEdit smoke recipes with `accelerate_configs/zero3.yaml`
and one process, fp32 as the recipes are, each for a few steps. Part 2 tries the Qwen3-VL architectures of
`editcaption/dry_run.py`'s KNOWN_ARCHITECTURES from the smallest up, with random weights built inside DeepSpeed's
`zero.Init` (never materialised whole), under `accelerate_configs/zero3_offload.yaml` (parameters and optimizer
states in CPU memory): a few TRL `SFTTrainer` steps of full fine-tuning (bf16, gradient checkpointing, two images
per example). Each try is a separate `accelerate launch` with a timeout, inside one overall time budget; the
search stops at the first size that fails, since a larger one cannot fit where a smaller one did not. Sizes whose
model states cannot fit in this host's RAM even before DeepSpeed's buffers (18 bytes per parameter, DeepSpeed's
`estimate_zero3_model_states_mem_needs` formula for ZeRO-3 with both offloads) are reported, not tried.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "2b": "Qwen/Qwen3-VL-2B-Instruct",
    "8b": "Qwen/Qwen3-VL-8B-Instruct",
    "30b-a3b": "Qwen/Qwen3-VL-30B-A3B-Instruct",
    "32b": "Qwen/Qwen3-VL-32B-Instruct",
    "235b-a22b": "Qwen/Qwen3-VL-235B-A22B-Instruct",
}
ZERO3, ZERO3_OFFLOAD = "accelerate_configs/zero3.yaml", "accelerate_configs/zero3_offload.yaml"
# DeepSpeed's estimate for ZeRO-3 with parameters and optimizer states offloaded: 18 bytes per parameter of CPU
# memory (fp32 master weights, Adam moments, bf16 copy, gradients) times a buffer factor (1.5 by default), and on
# the GPU the largest layer gathered in fp32 (4 bytes per parameter) plus activations.
OFFLOAD_CPU_BYTES_PER_PARAM, DEEPSPEED_BUFFER_FACTOR = 18, 1.5
RESULT_PREFIX = "ZERO3_RESULT "
DEEPSPEED_HELP = (
    "DeepSpeed is not installed: `pip install -e '.[deepspeed]'` (on the lent GPU machine, which has no network: "
    "`bash benchmarks/fetch_gpu_wheels.sh` here, carry benchmarks/.gpu_bundle, `bash benchmarks/install_gpu_wheels.sh` "
    "there)"
)


# -- what to run -------------------------------------------------------------------------------------------------


def launch(config: str, script: str, args: list[str], *, mixed_precision: str) -> list[str]:
    """`accelerate launch` of one process on one machine with an accelerate config (its 8 processes overridden)."""
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", config,
        "--num_processes", "1", "--num_machines", "1", "--mixed_precision", mixed_precision, script, *args,
    ]  # fmt: skip


def smoke_commands(output_dir: Path, steps: int) -> dict[str, list[str]]:
    """The three smoke recipes under ZeRO-3, one process, fp32 (as the recipes are), on the GPU, a few steps."""
    gpu = ["--use_cpu", "false"]
    sft = output_dir / "sft"
    return {
        "sft": launch(
            ZERO3, "src/edit_handbook/sft.py",
            ["--config", "recipes/editcaption/smoke/sft/config_smoke.yaml", *gpu, "--output_dir", str(sft),
             "--max_steps", str(steps), "--checker_eval_steps", str(steps)],
            mixed_precision="no",
        ),
        "dpo": launch(
            ZERO3, "src/edit_handbook/dpo.py",
            ["--config", "recipes/editcaption/smoke/dpo/config_smoke.yaml", *gpu, "--model_name_or_path", str(sft),
             "--output_dir", str(output_dir / "dpo"), "--max_steps", str(steps)],
            mixed_precision="no",
        ),
        "superedit": launch(
            ZERO3, "src/edit_handbook/train_superedit.py",
            ["--config", "recipes/superedit/smoke/train/config_smoke.yaml", "--output_dir",
             str(output_dir / "superedit"), "--max_train_steps", str(steps)],
            mixed_precision="no",
        ),
    }  # fmt: skip


def capacity_command(size: str, steps: int, image_size: int, batch_size: int) -> list[str]:
    """One capacity try: this script's worker mode under ZeRO-3 + CPU offload, bf16."""
    worker = [
        "--worker",
        size,
        "--steps",
        str(steps),
        "--image-size",
        str(image_size),
        "--batch-size",
        str(batch_size),
    ]
    return launch(ZERO3_OFFLOAD, str(Path(__file__).relative_to(ROOT)), worker, mixed_precision="bf16")


@dataclass
class SizePlan:
    size: str
    model: str
    params_b: float
    largest_layer_m: float
    host_gib_needed: float  # model states in CPU memory, without DeepSpeed's buffer factor
    host_gib_buffered: float
    gpu_gib_model_states: float  # the largest layer gathered in fp32
    fits_host: bool


def host_memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def plan_sizes(sizes: list[str], host_gib: float) -> list[SizePlan]:
    """Parameters (meta-device models, no memory) and ZeRO-3-offload memory needs of each size, smallest first."""
    import torch
    from transformers import AutoModelForImageTextToText

    from edit_handbook.editcaption.dry_run import model_config

    plans = []
    for size in sizes:
        config, _ = model_config(SIZES[size])
        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
        total = sum(p.numel() for p in model.parameters())
        largest = max(sum(p.numel() for p in module.parameters(recurse=False)) for module in model.modules())
        need = total * OFFLOAD_CPU_BYTES_PER_PARAM / 1024**3
        plans.append(
            SizePlan(
                size,
                SIZES[size],
                total / 1e9,
                largest / 1e6,
                need,
                need * DEEPSPEED_BUFFER_FACTOR,
                4 * largest / 1024**3,
                need <= host_gib,
            )  # fmt: skip
        )
    return sorted(plans, key=lambda plan: plan.params_b)


# -- the search --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # ok | failed | timeout | skipped
    seconds: float = 0.0
    detail: str = ""


def find_largest(
    plans: list[SizePlan],
    try_size: Callable[[SizePlan, float], Outcome],
    *,
    time_budget: float,
    per_size_timeout: float,
    try_infeasible: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[str | None, dict[str, Outcome]]:
    """Try sizes smallest first within `time_budget` seconds; returns (largest size that trained, every outcome)."""
    start, largest, outcomes = clock(), None, {}
    for index, plan in enumerate(plans):
        left = time_budget - (clock() - start)
        if not plan.fits_host and not try_infeasible:
            outcomes[plan.size] = Outcome(
                "skipped", detail=f"needs >= {plan.host_gib_needed:.0f} GiB of host RAM for offloaded model states"
            )
            continue
        if left <= 0:
            outcomes[plan.size] = Outcome("skipped", detail="time budget spent")
            continue
        outcome = try_size(plan, min(per_size_timeout, left))
        outcomes[plan.size] = outcome
        if outcome.status != "ok":
            for later in plans[index + 1 :]:
                outcomes[later.size] = Outcome("skipped", detail=f"{plan.size} did not train ({outcome.status})")
            break
        largest = plan.size
    return largest, outcomes


def run_command(command: list[str], timeout: float, log: Path) -> Outcome:
    """Run in its own process group (killed whole on timeout); the log keeps the output; the detail its result."""
    begin = time.monotonic()
    with open(log, "w") as file:
        process = subprocess.Popen(command, cwd=ROOT, stdout=file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return Outcome("timeout", time.monotonic() - begin, f"killed after {timeout:.0f} s; log {log}")
    seconds = time.monotonic() - begin
    lines = log.read_text(errors="replace").splitlines()
    result = next((line[len(RESULT_PREFIX) :] for line in reversed(lines) if line.startswith(RESULT_PREFIX)), "")
    if code != 0:
        reason = next((line for line in reversed(lines) if "Error" in line or "error" in line), f"exit status {code}")
        return Outcome("failed", seconds, f"{reason.strip()[:200]}; log {log}")
    return Outcome("ok", seconds, result or f"log {log}")


# -- worker: one capacity try (runs under accelerate launch) -----------------------------------------------------


def worker(size: str, steps: int, image_size: int, batch_size: int) -> None:
    """A few full fine-tuning steps of `size` with random weights; prints one RESULT line (JSON)."""
    import torch
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer

    from edit_handbook.data.synthetic import generate_dataset
    from edit_handbook.editcaption.dry_run import model_config, reference_processor
    from edit_handbook.editcaption.sft_data import to_sft_examples

    with tempfile.TemporaryDirectory() as scratch:
        # Made first: under `accelerate launch` with DeepSpeed it registers the ZeRO-3 config, so `from_config`
        # below builds the model inside zero.Init (partitioned and offloaded as it is created).
        args = SFTConfig(
            output_dir=scratch, max_steps=steps, per_device_train_batch_size=batch_size, bf16=True,
            gradient_checkpointing=True, max_length=None, save_strategy="no", report_to="none", logging_steps=1,
            disable_tqdm=True,
        )  # fmt: skip
        config, _ = model_config(SIZES[size])
        begin = time.monotonic()
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
        build_s = time.monotonic() - begin
        pixels = argparse.Namespace(min_pixels=image_size * image_size, max_pixels=image_size * image_size)
        processor = reference_processor(SIZES[size], config, pixels)
        examples = to_sft_examples(generate_dataset(batch_size * steps, seed=0, image_size=image_size))
        trainer = SFTTrainer(model=model, args=args, train_dataset=examples, processing_class=processor)
        begin = time.monotonic()
        trainer.train()
        result = {
            "size": size,
            "steps": steps,
            "build_s": round(build_s, 1),
            "train_s_per_step": round((time.monotonic() - begin) / steps, 2),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 1024**3, 1),
            "loss": trainer.state.log_history[-1].get("train_loss"),
        }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# -- main --------------------------------------------------------------------------------------------------------


def print_plan(plans: list[SizePlan], host_gib: float) -> None:
    print(f"\nQwen3-VL sizes under ZeRO-3 + CPU offload, one GPU; this host has {host_gib:.0f} GiB of RAM")
    print(
        "| size | parameters | largest layer | host RAM for model states (x1.5 DeepSpeed buffer) | GPU, model states | fits host |"
    )
    print("|---|---|---|---|---|---|")
    for plan in plans:
        print(
            f"| {plan.size} | {plan.params_b:.2f} B | {plan.largest_layer_m:.0f} M | {plan.host_gib_needed:.0f} GiB "
            f"({plan.host_gib_buffered:.0f}) | {plan.gpu_gib_model_states:.1f} GiB | {'yes' if plan.fits_host else 'no'} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", action="store_true", help="print sizes, memory needs and commands; run nothing")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated, from: " + ", ".join(SIZES))
    parser.add_argument("--time-budget", type=float, default=1500.0, help="seconds for the whole capacity search")
    parser.add_argument("--per-size-timeout", type=float, default=600.0)
    parser.add_argument("--smoke-steps", type=int, default=20)
    parser.add_argument("--smoke-timeout", type=float, default=600.0)
    parser.add_argument("--skip-smoke", action="store_true")
    parser.add_argument("--steps", type=int, default=3, help="training steps per capacity try")
    parser.add_argument("--image-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--try-infeasible", action="store_true", help="also try sizes that cannot fit host RAM")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    parser.add_argument("--worker", choices=sorted(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.image_size, args.batch_size)
        return 0

    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    unknown = sorted(set(sizes) - set(SIZES))
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    host_gib = host_memory_gib()
    plans = plan_sizes(sizes, host_gib)
    print_plan(plans, host_gib)
    logs = Path(tempfile.mkdtemp(prefix="zero3-bench-"))
    smoke = smoke_commands(logs, args.smoke_steps)
    if args.plan:
        print("\ncommands (run from the repository root):")
        for name, command in smoke.items():
            print(f"  smoke {name}: {' '.join(command)}")
        for plan in plans:
            print(
                f"  capacity {plan.size}: {' '.join(capacity_command(plan.size, args.steps, args.image_size, args.batch_size))}"
            )
        return 0

    import torch

    if importlib.util.find_spec("deepspeed") is None:
        sys.exit(DEEPSPEED_HELP)
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark measures one GPU (use --plan to see what it would run)")

    results: dict[str, dict] = {"smoke": {}, "capacity": {}}
    if not args.skip_smoke:
        print("\n| smoke recipe under ZeRO-3 (1 process) | status | wall time | detail |\n|---|---|---|---|")
        for name, command in smoke.items():
            outcome = run_command(command, args.smoke_timeout, logs / f"smoke-{name}.log")
            results["smoke"][name] = asdict(outcome)
            print(f"| {name} | {outcome.status} | {outcome.seconds:.0f} s | {outcome.detail} |", flush=True)

    def try_size(plan: SizePlan, timeout: float) -> Outcome:
        command = capacity_command(plan.size, args.steps, args.image_size, args.batch_size)
        return run_command(command, timeout, logs / f"capacity-{plan.size}.log")

    largest, outcomes = find_largest(
        plans, try_size, time_budget=args.time_budget, per_size_timeout=args.per_size_timeout,
        try_infeasible=args.try_infeasible,
    )  # fmt: skip
    print(f"\n| size (ZeRO-3 + CPU offload, {torch.cuda.get_device_name()}) | status | wall time | detail |")
    print("|---|---|---|---|")
    for plan in plans:
        outcome = outcomes[plan.size]
        results["capacity"][plan.size] = asdict(outcome)
        print(f"| {plan.size} | {outcome.status} | {outcome.seconds:.0f} s | {outcome.detail} |")
    print(f"\nlargest Qwen3-VL size that full fine-tunes here: {largest or 'none'} (logs in {logs})")
    if args.output:
        plan_rows = [asdict(plan) for plan in plans]
        args.output.write_text(json.dumps({"plan": plan_rows, "largest": largest, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
