"""Shared fixtures: small image files and edit-pair rows built on the fly in `tmp_path`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


pytest_plugins = ["tests.fixtures_models", "tests.fixtures_sft", "tests.fixtures_serving", "tests.fixtures_deepspeed"]


def _pixels(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A small gradient image in `mode`; `seed` shifts the colours so every image differs."""
    width, height = size
    ramp = (np.add.outer(np.arange(height), np.arange(width)) * 7 + seed * 31) % 256
    rgb = Image.fromarray(np.stack([ramp, ramp[::-1], 255 - ramp], axis=-1).astype(np.uint8))
    if mode == "I;16":
        return Image.fromarray((ramp * 257).astype(np.uint16))
    return rgb if mode == "RGB" else rgb.convert(mode)


@pytest.fixture
def image_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an image file under tmp_path: `image_file("a.png", mode="RGBA", size=(24, 16), seed=0)`."""

    def make(name: str, mode: str = "RGB", size: tuple[int, int] = (24, 16), seed: int = 0) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _pixels(mode, size, seed).save(path)
        return path

    return make


@pytest.fixture
def edit_rows(image_file: Callable[..., Path]) -> Callable[[int], list[dict]]:
    """`edit_rows(n)`: n valid edit-pair rows whose images are PNG files named relative to tmp_path."""

    def make(count: int) -> list[dict]:
        rows = []
        for index in range(count):
            image_file(f"images/{index}_src.png", seed=index)
            image_file(f"images/{index}_tgt.png", seed=index + 100)
            rows.append(
                {
                    "id": f"pair-{index}",
                    "source_image": f"images/{index}_src.png",
                    "target_image": f"images/{index}_tgt.png",
                    "instruction": f"move the circle {index} pixels to the left",
                }
            )
        return rows

    return make


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[list[dict], str], Path]:
    """`write_jsonl(rows, name="manifest.jsonl")`: one JSON object per line, in tmp_path."""

    def write(rows: list[dict], name: str = "manifest.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return path

    return write
