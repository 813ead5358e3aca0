"""`edit-handbook demo`: the whole pipeline on the embedded synthetic data with tiny models, on CPU.

The demo is a list of stages. Each feature module registers its own stage with `@demo_stage`
(data, SFT, DPO, synthesis, SuperEdit training, evaluation), and stages hand their outputs to
later ones through `DemoContext.artifacts`. Adding a stage to the pipeline means writing one
function in the feature's module and naming that module in `STAGE_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


# Modules whose import registers demo stages, in pipeline order.
STAGE_MODULES = (
    "edit_handbook.data.commands",
    "edit_handbook.editcaption.smoke",
    "edit_handbook.editcaption.dpo_demo",
    "edit_handbook.synth.demo",
    "edit_handbook.superedit.demo",
    "edit_handbook.evaluation.demo",
)


@dataclass
class DemoContext:
    output_dir: Path
    num_pairs: int
    image_size: int
    seed: int
    artifacts: dict[str, Any] = field(default_factory=dict)
    outputs: list[tuple[str, str]] = field(default_factory=list)

    def record(self, label: str, path: str | Path) -> None:
        """Remember an output for the final "where everything went" summary and print it now."""
        self.outputs.append((label, str(path)))
        print(f"  {label}: {path}")


@dataclass(frozen=True)
class Stage:
    name: str
    order: int
    description: str
    run: Callable[[DemoContext], None]


_STAGES: dict[str, Stage] = {}


def demo_stage(name: str, *, order: int, description: str):
    """Register `fn(context)` as the demo stage `name`; stages run by ascending `order`."""

    def register(fn: Callable[[DemoContext], None]) -> Callable[[DemoContext], None]:
        _STAGES[name] = Stage(name=name, order=order, description=description, run=fn)
        return fn

    return register


def stages() -> list[Stage]:
    for module in STAGE_MODULES:
        importlib.import_module(module)
    return sorted(_STAGES.values(), key=lambda stage: stage.order)


def run_demo(context: DemoContext, only: list[str] | None = None) -> DemoContext:
    selected = [s for s in stages() if not only or s.name in only]
    unknown = sorted(set(only or ()) - {s.name for s in stages()})
    if unknown:
        raise ValueError(f"unknown demo stages {unknown}; available: {[s.name for s in stages()]}")
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
    parser = argparse.ArgumentParser(prog="edit-handbook demo", description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/demo"), help="where every artifact goes")
    parser.add_argument("--num-pairs", type=int, default=96, help="synthetic pairs to generate")
    parser.add_argument("--image-size", type=int, default=128, help="side of the synthetic images, in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", nargs="+", metavar="STAGE", help="run only these stages (default: all)")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    args = parser.parse_args(argv)
    if args.list:
        for stage in stages():
            print(f"{stage.name}: {stage.description}")
        return 0
    context = DemoContext(
        output_dir=args.output_dir, num_pairs=args.num_pairs, image_size=args.image_size, seed=args.seed
    )
    run_demo(context, only=args.stages)
    return 0
