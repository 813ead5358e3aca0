"""The demo's stages in pipeline order, and the `edit-handbook demo` command that runs them.

Adding a stage means writing one module in this package with a `run(context)` function and listing it here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import data, dpo, evaluation, sft, superedit, synthesis
from .context import DemoContext, Stage


STAGES: tuple[Stage, ...] = (
    Stage("data", "generate synthetic edit pairs, validate them, save with a card and a grid", data.run),
    Stage(
        "sft",
        "the shipped captioner that sees: checker accuracy on training vs held-out pairs, per failure mode",
        sft.run,
    ),
    Stage(
        "dpo",
        "HAE-DPO from the captioner (tiny-see DPO recipe); held-out accuracy and critical errors before/after",
        dpo.run,
    ),
    Stage(
        "synthesis",
        "rectify fresh pairs and make negatives with the captioner; checker-measured rates",
        synthesis.run,
    ),
    Stage(
        "superedit",
        "fine-tune the shipped tutorial editor with the triplet loss; grid and pixel-exact scores on fresh pairs",
        superedit.run,
    ),
    Stage(
        "evaluation",
        "checker-score the captioner(s) on fresh synthetic pairs, judge the editor, write a report",
        evaluation.run,
    ),
)


def run_demo(context: DemoContext, only: list[str] | None = None) -> DemoContext:
    unknown = sorted(set(only or ()) - {stage.name for stage in STAGES})
    if unknown:
        raise ValueError(f"unknown demo stages {unknown}; available: {[stage.name for stage in STAGES]}")
    selected = [stage for stage in STAGES if not only or stage.name in only]
    context.output_dir.mkdir(parents=True, exist_ok=True)
    for index, stage in enumerate(selected, 1):
        print(f"\n[{index}/{len(selected)}] {stage.name}: {stage.description}", flush=True)
        start = time.perf_counter()
        stage.run(context)
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    print("\nWhere everything went:")
    for label, path in context.outputs:
        print(f"  {label}: {path}")
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edit-handbook demo", description="The whole pipeline on synthetic pairs with tiny models, on CPU."
    )
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/demo"), help="where every artifact goes")
    parser.add_argument("--num-pairs", type=int, default=96, help="synthetic pairs to generate")
    parser.add_argument("--image-size", type=int, default=128, help="side of the synthetic images, in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", nargs="+", metavar="STAGE", help="run only these stages (default: all)")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    args = parser.parse_args(argv)
    if args.list:
        for stage in STAGES:
            print(f"{stage.name}: {stage.description}")
        return 0
    context = DemoContext(
        output_dir=args.output_dir, num_pairs=args.num_pairs, image_size=args.image_size, seed=args.seed
    )
    run_demo(context, only=args.stages)
    return 0
