"""Demo stage: `edit-handbook generate` on the demo's settings (synthetic pairs, validated, card and grid)."""

from __future__ import annotations

from edit_handbook.data.configs import SyntheticDataArguments
from edit_handbook.generate import generate

from .context import DemoContext


def run(context: DemoContext) -> None:
    folder = context.output_dir / "data" / "synthetic"
    args = SyntheticDataArguments(
        output_dir=str(folder), num_pairs=context.num_pairs, seed=context.seed, image_size=context.image_size
    )
    generate(args)
    context.artifacts["synthetic_dataset"] = folder / "dataset"
    context.record("synthetic dataset", folder / "dataset")
    context.record("dataset card", folder / "README.md")
    context.record("example grid", folder / "examples.png")
