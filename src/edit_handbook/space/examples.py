"""Example inputs for the Space, drawn from the synthetic generator when the app starts (no images committed).

The pairs are of two kinds the tiny captioner (the shipped captioner that sees) was trained on, moves and
recolours of flat shapes, so it answers them sensibly too; each carries its reference instruction and a flawed one for the Rectify tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edit_handbook.data import schema
from edit_handbook.data.synthetic import generate_pairs


EXAMPLE_EDIT_TYPES = ("move", "recolour")


@dataclass(frozen=True)
class ExamplePair:
    source: Path
    target: Path
    instruction: str
    noisy_instruction: str


def write_examples(folder: str | Path, count: int = 3, *, seed: int = 0, image_size: int = 256) -> list[ExamplePair]:
    """Write `count` synthetic pairs as PNGs under `folder` and describe them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    examples = []
    for index, row in enumerate(
        generate_pairs(count, seed=seed, image_size=image_size, edit_types=EXAMPLE_EDIT_TYPES)
    ):
        source, target = folder / f"example-{index}-source.png", folder / f"example-{index}-edited.png"
        row[schema.SOURCE_IMAGE].save(source)
        row[schema.TARGET_IMAGE].save(target)
        flawed = row["flawed_instructions"]
        noisy = flawed[0] if flawed else row[schema.INSTRUCTION]
        examples.append(ExamplePair(source, target, row[schema.INSTRUCTION], noisy))
    return examples
