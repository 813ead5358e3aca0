"""PNG grids of edit pairs (source | target, instruction underneath).

A grid is the quickest way for a person to see whether a dataset's instructions match its
images; dataset cards embed one.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from . import schema


CELL = 160
TEXT_HEIGHT = 56
PAD = 6


def example_grid(rows: Sequence[dict], path: str | Path, *, columns: int = 4, cell: int = CELL) -> Path:
    """Save a grid of (source, target) pairs with their instruction; returns the path."""
    if not rows:
        raise ValueError("example_grid needs at least one row")
    font = ImageFont.load_default()
    width, height = 2 * cell + PAD, cell + TEXT_HEIGHT
    n_rows = -(-len(rows) // columns)
    grid = Image.new("RGB", (columns * (width + PAD) + PAD, n_rows * (height + PAD) + PAD), "white")
    draw = ImageDraw.Draw(grid)
    for index, row in enumerate(rows):
        x = PAD + (index % columns) * (width + PAD)
        y = PAD + (index // columns) * (height + PAD)
        for offset, column in ((0, schema.SOURCE_IMAGE), (cell + PAD, schema.TARGET_IMAGE)):
            grid.paste(row[column].convert("RGB").resize((cell, cell)), (x + offset, y))
        text = "\n".join(textwrap.wrap(row[schema.INSTRUCTION], width=width // 7)[:4])
        draw.multiline_text((x, y + cell + 2), text, fill="black", font=font, spacing=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path
