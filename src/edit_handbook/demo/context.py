"""What the demo's stages share: the settings, and the artifacts each stage hands to the later ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    description: str
    run: Callable[[DemoContext], None]
